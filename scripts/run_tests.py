"""Run the nose2 suite with warnings as errors and a watchdog; end with `N passed, N failed`."""
from __future__ import annotations

import faulthandler
import sys

from nose2.main import PluggableTestProgram


# A hung test must fail the run well inside CI's limit instead of eating it
SUITE_TIMEOUT_SECONDS = 40 * 60


def main() -> int:
    faulthandler.dump_traceback_later(SUITE_TIMEOUT_SECONDS, exit=True)
    program = PluggableTestProgram(module=None, argv=["nose2", *sys.argv[1:]], exit=False)
    result = program.result
    failed = len(result.failures) + len(result.errors) + len(getattr(result, "unexpectedSuccesses", []))
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    ok = failed == 0 and result.testsRun > 0
    sys.stdout.flush()
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
