"""Run the nose2 suite with warnings as errors and a watchdog; end with `N passed, N failed`.

`--summary FILE` also appends the counts to FILE; `--total FILE N` prints the sum of the N runs
recorded there and exits non-zero if any failed, so `make test` can run several suites.

Output: one line per test module as it starts, a dot (or F, E, s) per test, then each failure in
full with the log records of that test. Logging goes to nose2's log capture (scripts/nose2.cfg),
which keeps a test's records and shows them only if it fails, so the warnings and tracebacks tests
provoke on purpose stay out of a green run.
"""
from __future__ import annotations

import faulthandler
import logging
import sys
from pathlib import Path
from typing import Any

from nose2 import result
from nose2.main import PluggableTestProgram


# A hung test must fail the run well inside CI's limit instead of eating it
SUITE_TIMEOUT_SECONDS = 40 * 60
# Log capture at INFO (botocore's DEBUG chatter would only cost time), shown for failures only
CONFIG = Path(__file__).with_name("nose2.cfg")


class ModuleProgress:
    """A nose2 hook printing each test module's name as its first test starts (quiet runs only)."""

    def __init__(self) -> None:
        self.module: str | None = None

    def startTest(self, event: Any) -> None:
        test = event.test
        # A function test (nose2's FunctionTestCase) names its module through the function
        module = getattr(getattr(test, "_testFunc", None), "__module__", None) or type(test).__module__
        if module != self.module:
            sys.stderr.write(("\n" if self.module else "") + f"{module} ")
            sys.stderr.flush()
            self.module = module


class OutcomeCounter:
    """A nose2 hook counting outcomes; import failures arrive as errors and count as failed."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def testOutcome(self, event: Any) -> None:
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


def report(passed: int, failed: int, skipped: int) -> int:
    sys.stderr.flush()
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


def total(path: Path, expected_runs: int) -> int:
    runs = [line.split() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    passed, failed, skipped = (sum(int(run[index]) for run in runs) for index in range(3))
    missing = expected_runs - len(runs)
    if missing > 0:
        # A suite that died before reporting (a crash, the watchdog) counts as a failure
        print(f"{missing} of {expected_runs} test runs reported nothing", file=sys.stderr)
        failed += missing
    return report(passed, failed, skipped)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--total"]:
        return total(Path(argv[1]), int(argv[2]))
    summary = None
    if argv[:1] == ["--summary"]:
        summary, argv = Path(argv[1]), argv[2:]
    faulthandler.dump_traceback_later(SUITE_TIMEOUT_SECONDS, exit=True)
    counter = OutcomeCounter()
    hooks: list[tuple[str, Any]] = [("testOutcome", counter)]
    if not {"-v", "--verbose"} & set(argv):
        hooks.append(("startTest", ModuleProgress()))
    if not {"-c", "--config"} & set(argv):
        argv = ["--config", str(CONFIG), *argv]
    # nose2 would add a stderr handler to the root logger (logging.basicConfig); the capture replaces it
    logging.getLogger().addHandler(logging.NullHandler())
    PluggableTestProgram(module=None, argv=["nose2", *argv], exit=False, extraHooks=hooks)
    if summary is not None:
        with summary.open("a") as file:
            file.write(f"{counter.passed} {counter.failed} {counter.skipped}\n")
    return report(counter.passed, counter.failed, counter.skipped)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
