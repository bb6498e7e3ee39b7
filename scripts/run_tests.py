"""Run the nose2 suite with warnings as errors and a watchdog; end with `N passed, N failed`."""
from __future__ import annotations

import faulthandler
import sys
from typing import Any

from nose2 import result
from nose2.main import PluggableTestProgram


# A hung test must fail the run well inside CI's limit instead of eating it
SUITE_TIMEOUT_SECONDS = 40 * 60


class OutcomeCounter:
    """A nose2 hook counting outcomes; import failures arrive as errors and count as failed."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def testOutcome(self, event: Any) -> None:  # noqa: N802 (nose2's hook name)
        if event.outcome == result.SKIP:
            self.skipped += 1
        elif event.outcome == result.SUBTEST:
            if event.exc_info is not None:
                self.failed += 1
        elif event.outcome == result.PASS and event.expected:
            self.passed += 1
        elif event.outcome == result.FAIL and event.expected:
            self.passed += 1  # an expected failure behaved as expected
        else:
            self.failed += 1


def main() -> int:
    faulthandler.dump_traceback_later(SUITE_TIMEOUT_SECONDS, exit=True)
    counter = OutcomeCounter()
    PluggableTestProgram(
        module=None, argv=["nose2", *sys.argv[1:]], exit=False, extraHooks=[("testOutcome", counter)],
    )
    sys.stderr.flush()
    print(f"{counter.passed} passed, {counter.failed} failed, {counter.skipped} skipped", flush=True)
    return 0 if counter.failed == 0 and counter.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
