"""Run pytest over the given paths and record its counts like `run_tests.py --summary` does.

Services' own tests are often pytest modules; `make test` runs the examples' tests under pytest
as well as nose2, so that what the docs show works with both runners.

    run_pytest.py --summary FILE PATH [PATH ...]
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest


class OutcomeCounter:
    """A pytest plugin counting test outcomes; errors in setup or collection count as failed."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" and report.passed:
            self.passed += 1
        elif report.failed:
            self.failed += 1
        elif report.skipped and report.when in ("setup", "call"):
            self.skipped += 1

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.failed += 1


def main(argv: list[str]) -> int:
    summary = None
    if argv[:1] == ["--summary"]:
        summary, argv = Path(argv[1]), argv[2:]
    counter = OutcomeCounter()
    code = pytest.main(["-q", "-p", "no:cacheprovider", *argv], plugins=[counter])
    if summary is not None:
        with summary.open("a") as file:
            file.write(f"{counter.passed} {counter.failed} {counter.skipped}\n")
    print(f"{counter.passed} passed, {counter.failed} failed, {counter.skipped} skipped", flush=True)
    return 0 if code == 0 and counter.failed == 0 and counter.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
