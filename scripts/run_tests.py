"""Run the nose2 suite with warnings as errors and a watchdog; end with `N passed, N failed`.

`--summary FILE` also appends the counts to FILE; `--total FILE N` prints the sum of the N runs
recorded there and exits non-zero if any failed, so `make test` can run several suites.

Output: one line per test module, a dot (or F, E, s) per test, then each failure in full with the
log records of that test. Logging goes to nose2's log capture (scripts/nose2.cfg), which keeps a
test's records and shows them only if it fails, so the warnings and tracebacks tests provoke on
purpose stay out of a green run.

`--jobs N` runs the test modules in N worker processes, each a nose2 run of its own (so each has
its own local endpoint); most tests wait on sockets, sleeps and child processes rather than the
CPU, so N can exceed the cores. The modules go out longest first, by the durations recorded in
scripts/test_durations.json (`--record-durations FILE` rewrites them from a run), to whichever
worker is free. A module's line is printed whole when it completes, so workers' lines never mix;
anything a worker printed outside the tests' reports follows its module's line. A module whose
worker died counts as failed, and a new worker takes the modules left.

    run_tests.py [--summary FILE] [--jobs N] [--record-durations FILE] NOSE2_ARGS...
    run_tests.py --total FILE N
"""
from __future__ import annotations

import faulthandler
import io
import json
import logging
import os
import selectors
import subprocess
import sys
import time
import unittest
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from nose2 import result, util
from nose2.main import PluggableTestProgram
from nose2.plugins.result import ResultReporter


# A hung test must fail the run well inside CI's limit instead of eating it
SUITE_TIMEOUT_SECONDS = 40 * 60
# Log capture at INFO (botocore's DEBUG chatter would only cost time), shown for failures only
CONFIG = Path(__file__).with_name("nose2.cfg")
# Seconds each test module took (a worker's wall time), to hand out the longest first
DURATIONS = Path(__file__).with_name("test_durations.json")
# nose2's options that take a value; every other argument not starting with "-" names tests
VALUE_OPTIONS = {
    "-s", "--start-dir", "-t", "--top-level-directory", "-c", "--config", "-A", "--attribute",
    "-E", "--eval-attribute", "--log-level", "--plugin", "--exclude-plugin", "--junit-xml-path",
}
SEPARATOR1 = "=" * 70
SEPARATOR2 = "-" * 70


def module_of(test: Any) -> str:
    # A function test (nose2's FunctionTestCase) names its module through the function
    return getattr(getattr(test, "_testFunc", None), "__module__", None) or type(test).__module__


class ModuleProgress:
    """A nose2 hook printing each test module's name as its first test starts (quiet serial runs only)."""

    def __init__(self) -> None:
        self.module: str | None = None

    def startTest(self, event: Any) -> None:
        module = module_of(event.test)
        if module != self.module:
            sys.stderr.write(("\n" if self.module else "") + f"{module} ")
            sys.stderr.flush()
            self.module = module


def classify(event: Any) -> str | None:
    """"passed", "failed" or "skipped" for a test outcome; None for a subtest that passed.

    Import failures arrive as errors and count as failed.
    """
    if event.outcome == result.SKIP:
        return "skipped"
    if event.outcome == result.SUBTEST:
        return None if event.exc_info is None else "failed"
    if event.outcome == result.PASS and event.expected:
        return "passed"
    if event.outcome == result.FAIL and event.expected:
        return "passed"  # an expected failure behaved as expected
    return "failed"


def label(event: Any) -> str:
    """The character nose2 prints for an outcome."""
    if event.outcome == result.ERROR:
        return "E"
    if event.outcome == result.FAIL:
        return "x" if event.expected else "F"
    if event.outcome == result.SKIP:
        return "s"
    if event.outcome == result.PASS:
        return "." if event.expected else "u"
    if event.outcome == result.SUBTEST:
        if event.exc_info is None:
            return ""
        return "F" if issubclass(event.exc_info[0], event.test.failureException) else "E"
    return "?"


class OutcomeCounter:
    """A nose2 hook counting outcomes."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def testOutcome(self, event: Any) -> None:
        kind = classify(event)
        if kind is not None:
            setattr(self, kind, getattr(self, kind) + 1)


def report(passed: int, failed: int, skipped: int) -> int:
    sys.stderr.flush()
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


def record(summary: Path | None, passed: int, failed: int, skipped: int) -> None:
    if summary is not None:
        with summary.open("a") as file:
            file.write(f"{passed} {failed} {skipped}\n")


def total(path: Path, expected_runs: int) -> int:
    runs = [line.split() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    passed, failed, skipped = (sum(int(run[index]) for run in runs) for index in range(3))
    missing = expected_runs - len(runs)
    if missing > 0:
        # A suite that died before reporting (a crash, the watchdog) counts as a failure
        print(f"{missing} of {expected_runs} test runs reported nothing", file=sys.stderr)
        failed += missing
    return report(passed, failed, skipped)


def with_config(argv: list[str]) -> list[str]:
    return argv if {"-c", "--config"} & set(argv) else ["--config", str(CONFIG), *argv]


def run_serial(argv: list[str], summary: Path | None) -> int:
    faulthandler.dump_traceback_later(SUITE_TIMEOUT_SECONDS, exit=True)
    counter = OutcomeCounter()
    hooks: list[tuple[str, Any]] = [("testOutcome", counter)]
    if not {"-v", "--verbose"} & set(argv):
        hooks.append(("startTest", ModuleProgress()))
    # nose2 would add a stderr handler to the root logger (logging.basicConfig); the capture replaces it
    logging.getLogger().addHandler(logging.NullHandler())
    PluggableTestProgram(module=None, argv=["nose2", *with_config(argv)], exit=False, extraHooks=hooks)
    record(summary, counter.passed, counter.failed, counter.skipped)
    return report(counter.passed, counter.failed, counter.skipped)


# --- a worker: a nose2 run fed one module at a time by the parent ---------------------------------------------


class Channel:
    """The worker's side of its two pipes: module names come in, JSON events go out."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.incoming = os.fdopen(read_fd, "r", encoding="utf-8")
        self.outgoing = os.fdopen(write_fd, "w", encoding="utf-8")

    def send(self, **message: Any) -> None:
        self.outgoing.write(json.dumps(message) + "\n")
        self.outgoing.flush()

    def close(self) -> None:
        self.incoming.close()
        self.outgoing.close()

    def next_module(self) -> str | None:
        self.send(ready=True)
        name = self.incoming.readline().strip()
        return name or None


class ModuleFeed(unittest.TestSuite):
    """A suite that asks the parent for a module, runs it as a complete run of its own, and asks again.

    Each module is a top-level run for unittest, so its class and module tear-downs happen before
    the module is reported done, and the next module starts with no fixture state of the last.
    """

    def __init__(self, loader: Any, channel: Channel) -> None:
        super().__init__()
        self._cleanup = False
        self.loader = loader
        self.channel = channel

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def countTestCases(self) -> int:
        return 0

    def run(self, result: Any, debug: bool = False) -> Any:
        while (name := self.channel.next_module()) is not None:
            suite = self.loader.loadTestsFromNames([name], None)
            result._previousTestClass = None
            result._moduleSetUpFailed = False
            suite(result)
            result._previousTestClass = None
        return result


class WorkerReporter:
    """nose2 hooks sending each outcome's character, and each failure in full, to the parent.

    nose2's own dots and end-of-run report are silenced: the parent prints them.
    """

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.reporter: ResultReporter | None = None

    def testOutcome(self, event: Any) -> None:
        kind = classify(event)
        failure = None
        if kind == "failed" and self.reporter is not None:
            flavour = "ERROR" if label(event) == "E" else "FAIL"
            # A class or module fixture's error holder is no TestCase: its own text names the fixture
            test = event.test
            description = (
                self.reporter._getDescription(test, errorList=True) if isinstance(test, unittest.TestCase)
                else str(test)
            )
            detail = self.reporter._getOutcomeDetail(event)
            failure = "\n".join([SEPARATOR1, f"{flavour}: {description}", SEPARATOR2, detail])
        elif kind == "failed":
            failure = util.exc_info_to_string(event.exc_info, event.test) if event.exc_info else str(event.test)
        self.channel.send(label=label(event), kind=kind, failure=failure)

    def _silence(self, event: Any) -> None:
        event.handled = True

    reportSuccess = reportFailure = reportError = reportSkip = _silence
    reportExpectedFailure = reportUnexpectedSuccess = reportOtherOutcome = _silence

    def beforeErrorList(self, event: Any) -> None:
        event.stream = util._WritelnDecorator(io.StringIO())


class WorkerProgram(PluggableTestProgram):  # type: ignore[misc]
    """nose2's program with the parent's module feed as its suite."""

    def __init__(self, channel: Channel, reporter: WorkerReporter, **kwargs: Any) -> None:
        self.channel = channel
        self.reporter = reporter
        super().__init__(**kwargs)

    def createTests(self) -> None:
        self.test = ModuleFeed(self.testLoader, self.channel)

    def runTests(self) -> None:
        self.reporter.reporter = next(
            (plugin for plugin in self.session.plugins if isinstance(plugin, ResultReporter)), None,
        )
        super().runTests()


def run_worker(fds: str, timeout: float, argv: list[str]) -> int:
    faulthandler.dump_traceback_later(timeout, exit=True)
    read_fd, write_fd = (int(fd) for fd in fds.split(","))
    channel = Channel(read_fd, write_fd)
    reporter = WorkerReporter(channel)
    hooks: list[tuple[str, Any]] = [(name, reporter) for name in (
        "testOutcome", "reportSuccess", "reportFailure", "reportError", "reportSkip",
        "reportExpectedFailure", "reportUnexpectedSuccess", "reportOtherOutcome", "beforeErrorList",
    )]
    logging.getLogger().addHandler(logging.NullHandler())
    WorkerProgram(channel, reporter, module=None, argv=["nose2", *argv], exit=False, extraHooks=hooks)
    channel.close()
    return 0


# --- the parent: hands modules out and prints them as they complete -------------------------------------------


def split_arguments(argv: list[str]) -> tuple[list[str], list[str], Path]:
    """(nose2's options, the test names, the start directory)."""
    options: list[str] = []
    names: list[str] = []
    start = Path(".")
    arguments = iter(argv)
    for argument in arguments:
        if argument in VALUE_OPTIONS:
            value = next(arguments)
            options += [argument, value]
            if argument in ("-s", "--start-dir"):
                start = Path(value)
        elif argument.startswith("-"):
            options.append(argument)
        else:
            names.append(argument)
    return options, names, start


def test_modules(names: list[str], start: Path) -> list[str]:
    """The test modules the names stand for: a package's are what nose2's discovery finds in it."""
    modules: list[str] = []
    for name in names:
        path = start.joinpath(*name.split("."))
        if (path / "__init__.py").exists():
            modules += discover(path, name)
        else:
            modules.append(name)  # a module, or a test inside one: nose2 loads it as named
    return list(dict.fromkeys(modules))


def discover(directory: Path, package: str) -> list[str]:
    found: list[str] = []
    for entry in sorted(directory.iterdir()):
        if entry.is_file() and entry.name.startswith("test") and entry.suffix == ".py":
            found.append(f"{package}.{entry.stem}")
        elif entry.is_dir() and (entry / "__init__.py").exists():
            found += discover(entry, f"{package}.{entry.name}")
    return found


@dataclass
class Group:
    """Test modules run by one interpreter: this one, or another environment's (`--also`)."""

    python: str
    label: str  # "" for this interpreter; otherwise shown with each of its modules
    modules: list[str]
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def key(self, module: str) -> str:
        """The module's name in the durations file."""
        return f"{self.label}/{module}" if self.label else module


@dataclass
class ModuleRun:
    group: Group
    name: str
    started: float
    labels: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def title(self) -> str:
        return f"{self.name} [{self.group.label}]" if self.group.label else self.name


@dataclass
class Worker:
    group: Group
    process: subprocess.Popen[bytes]
    to_worker: IO[str]
    events: int  # the read ends of its events pipe and of its stdout and stderr
    output: int
    current: ModuleRun | None = None
    asked: bool = False  # it has asked for a module at least once
    modules: int = 0
    buffer: bytes = b""
    stray: list[str] = field(default_factory=list)


def read_available(fd: int) -> bytes | None:
    """What the pipe holds now; b"" at its end, None if nothing is there yet."""
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return None


class Parallel:
    """Runs the groups' modules over `jobs` workers and prints each module's line as it completes.

    One queue, longest first over every group: a free worker takes the longest module of its own
    group, unless a longer one waits in a group no worker serves (then it makes way for a worker of
    that group), or its group has none left.
    """

    def __init__(self, jobs: int, options: list[str], groups: list[Group], durations: dict[str, float]) -> None:
        self.jobs = jobs
        self.options = options
        self.groups = groups
        # A module not measured yet goes by the longest measured one, so it cannot end up last and alone
        unknown = max(durations.values(), default=0.0)
        items = [(group, module) for group in groups for module in group.modules]
        self.queue = sorted(items, key=lambda item: -durations.get(item[0].key(item[1]), unknown))
        self.total = len(self.queue)
        self.workers: list[Worker] = []
        self.selector = selectors.DefaultSelector()
        self.failures: list[str] = []
        self.durations: dict[str, float] = {}
        self.started = time.monotonic()
        self.deadline = self.started + SUITE_TIMEOUT_SECONDS

    @property
    def passed(self) -> int:
        return sum(group.passed for group in self.groups)

    @property
    def failed(self) -> int:
        return sum(group.failed for group in self.groups)

    @property
    def skipped(self) -> int:
        return sum(group.skipped for group in self.groups)

    def spawn(self, group: Group) -> None:
        events_read, events_write = os.pipe()
        modules_read, modules_write = os.pipe()
        warnings = [f"-W{option}" for option in sys.warnoptions]
        timeout = max(1.0, self.deadline - time.monotonic())
        command = [
            group.python, *warnings, __file__, "--worker", f"{modules_read},{events_write}", str(timeout),
            *self.options,
        ]
        try:
            process = subprocess.Popen(  # noqa: S603 (an interpreter of ours running this script)
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(modules_read, events_write),
            )
        except OSError as error:
            for fd in (events_read, events_write, modules_read, modules_write):
                os.close(fd)
            self.failures.append("\n".join([
                SEPARATOR1, f"ERROR: a test worker ({group.python})", SEPARATOR2, f"It could not start: {error}",
            ]))
            self.abandon(group)
            return
        os.close(modules_read)
        os.close(events_write)
        assert process.stdout is not None
        output = process.stdout.fileno()
        worker = Worker(group, process, os.fdopen(modules_write, "w", encoding="utf-8"), events_read, output)
        for fd, kind in ((events_read, "events"), (output, "output")):
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ, (worker, kind))
        self.workers.append(worker)

    def spawn_for_waiting(self) -> None:
        """Fill free slots with workers for the longest modules waiting, one worker starting per module."""
        while len(self.workers) < self.jobs and time.monotonic() < self.deadline:
            starting = sum(1 for worker in self.workers if worker.modules == 0)
            if len(self.queue) <= starting:
                return
            self.spawn(self.queue[starting][0])

    def run(self) -> None:
        self.spawn_for_waiting()
        while self.workers:
            if time.monotonic() - self.deadline > 60:
                # The workers' own watchdogs should have fired by now; stop whatever is left
                for worker in list(self.workers):
                    worker.process.kill()
                    worker.process.wait()
                    self.end(worker, "killed at the suite's time limit")
                break
            for key, _ in self.selector.select(timeout=1.0):
                worker, kind = key.data
                if worker not in self.workers:
                    continue
                if kind == "output":
                    self.read_output(worker)
                else:
                    self.read_events(worker)
        for group, name in self.queue:
            group.failed += 1
            run = ModuleRun(group, name, time.monotonic())
            self.failures.append("\n".join([
                SEPARATOR1, f"ERROR: {run.title}", SEPARATOR2, "Not run: no test worker was left to run it.",
            ]))
            sys.stderr.write(f"{run.title} (not run: no test worker was left)\n")
        self.queue = []

    def read_output(self, worker: Worker) -> None:
        data = read_available(worker.output)
        if data is None:
            return
        if not data:  # closed (the tests' child processes may still hold a copy: the events pipe decides)
            self.selector.unregister(worker.output)
            return
        text = data.decode("utf-8", "replace")
        (worker.current.output if worker.current is not None else worker.stray).append(text)

    def read_events(self, worker: Worker) -> None:
        data = read_available(worker.events)
        if data is None:
            return
        if not data:
            worker.process.wait()
            self.end(worker, f"its worker exited with status {worker.process.returncode}")
            return
        *lines, worker.buffer = (worker.buffer + data).split(b"\n")
        for line in lines:
            if line:
                self.handle(worker, json.loads(line))

    def handle(self, worker: Worker, message: dict[str, Any]) -> None:
        current = worker.current
        if "label" in message and current is not None:
            current.labels.append(message["label"])
            if message["kind"] is not None:
                setattr(current, message["kind"], getattr(current, message["kind"]) + 1)
            if message["failure"] is not None:
                current.failures.append(message["failure"])
        elif message.get("ready"):
            worker.asked = True
            if current is not None:
                self.complete(worker, current)
            self.dispatch(worker)

    def next_for(self, worker: Worker) -> str:
        """The module the worker runs next; "" to let it finish."""
        if not self.queue or time.monotonic() >= self.deadline:
            return ""
        served = {id(other.group) for other in self.workers}
        for index, (group, module) in enumerate(self.queue):
            if group is worker.group:
                del self.queue[index]
                return module
            if id(group) not in served:
                return ""  # a longer module waits for a worker of its own group: make way for one
        return ""

    def dispatch(self, worker: Worker) -> None:
        name = self.next_for(worker)
        if name:
            worker.current = ModuleRun(worker.group, name, time.monotonic())
            worker.modules += 1
        try:
            worker.to_worker.write(name + "\n")
            worker.to_worker.flush()
        except BrokenPipeError:
            pass  # it died: its events pipe ends next, and the module counts as failed

    def complete(self, worker: Worker, run: ModuleRun, problem: str | None = None) -> None:
        worker.current = None
        self.drain_output(worker, run.output)
        output = "".join(run.output)
        if problem is not None:
            run.failed += 1
            run.failures.append("\n".join([
                SEPARATOR1, f"ERROR: {run.title}", SEPARATOR2,
                f"The module did not complete: {problem}. Its worker's output:", output,
            ]))
            output = ""
        elif run.group.label:
            run.failures = [failure.replace("\n" + SEPARATOR2, f" [{run.group.label}]\n" + SEPARATOR2, 1)
                            for failure in run.failures]
        self.durations[run.group.key(run.name)] = round(time.monotonic() - run.started, 2)
        run.group.passed += run.passed
        run.group.failed += run.failed
        run.group.skipped += run.skipped
        self.failures += run.failures
        line = f"{run.title} {''.join(run.labels)}"
        if problem is not None:
            line += f" (did not complete: {problem})"
        if output and not output.endswith("\n"):
            output += "\n"
        sys.stderr.write(f"{line}\n{output}")
        sys.stderr.flush()

    def drain_output(self, worker: Worker, into: list[str]) -> None:
        if worker.output not in self.selector.get_map():
            return
        data = read_available(worker.output)
        if data:
            into.append(data.decode("utf-8", "replace"))

    def end(self, worker: Worker, problem: str) -> None:
        """The worker is gone: its module (if any) failed; other workers take the modules left."""
        self.workers.remove(worker)
        if worker.current is not None:
            self.complete(worker, worker.current, problem)
        else:
            self.drain_output(worker, worker.stray)
            if worker.process.returncode != 0 or not worker.asked:
                worker.group.failed += 1
                self.failures.append("\n".join([
                    SEPARATOR1, f"ERROR: a test worker ({worker.group.python})", SEPARATOR2,
                    f"It failed: {problem}. Its output:", "".join(worker.stray),
                ]))
        for fd in (worker.events, worker.output):
            if fd in self.selector.get_map():
                self.selector.unregister(fd)
        os.close(worker.events)
        assert worker.process.stdout is not None
        worker.process.stdout.close()
        try:
            worker.to_worker.close()
        except BrokenPipeError:
            pass
        # A worker that ended before asking for a module would again: its group gets no other
        if not worker.asked:
            self.abandon(worker.group)
        self.spawn_for_waiting()

    def abandon(self, group: Group) -> None:
        left = [module for other, module in self.queue if other is group]
        self.queue = [(other, module) for other, module in self.queue if other is not group]
        for module in left:
            group.failed += 1
            run = ModuleRun(group, module, time.monotonic())
            self.failures.append("\n".join([
                SEPARATOR1, f"ERROR: {run.title}", SEPARATOR2, "Not run: its test worker could not start.",
            ]))
            sys.stderr.write(f"{run.title} (not run: its test worker could not start)\n")

    def finish(self) -> None:
        if self.failures:
            sys.stderr.write("\n" + "\n".join(self.failures) + "\n")
        took = time.monotonic() - self.started
        outcome = "OK" if self.failed == 0 else f"FAILED (failures={self.failed})"
        sys.stderr.write(
            f"{SEPARATOR2}\nRan {self.total} test modules in {took:.3f}s over {self.jobs} workers\n\n{outcome}\n",
        )
        sys.stderr.flush()


def run_parallel(
    argv: list[str], jobs: int, also: list[tuple[str, str]], summary: Path | None, record_durations: Path | None,
) -> int:
    options, names, start = split_arguments(with_config(argv))
    groups = [Group(sys.executable, "", test_modules(names, start))]
    for python, modules in also:
        groups.append(Group(python, Path(python).parent.parent.name, test_modules(modules.split(), start)))
    durations = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    parallel = Parallel(jobs, options, groups, durations)
    parallel.run()
    parallel.finish()
    if record_durations is not None:
        recorded = json.loads(record_durations.read_text()) if record_durations.exists() else {}
        recorded.update(parallel.durations)
        record_durations.write_text(json.dumps(dict(sorted(recorded.items())), indent=1) + "\n")
    for group in groups:  # a line each, as separate runs would have recorded
        record(summary, group.passed, group.failed, group.skipped)
    return report(parallel.passed, parallel.failed, parallel.skipped)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--total"]:
        return total(Path(argv[1]), int(argv[2]))
    if argv[:1] == ["--worker"]:
        return run_worker(argv[1], float(argv[2]), argv[3:])
    summary = record_durations = None
    jobs = 1
    also: list[tuple[str, str]] = []
    rest: list[str] = []
    arguments = iter(argv)
    for argument in arguments:
        if argument == "--summary":
            summary = Path(next(arguments))
        elif argument == "--jobs":
            jobs = int(next(arguments))
        elif argument == "--record-durations":
            record_durations = Path(next(arguments))
        elif argument == "--also":
            also.append((next(arguments), next(arguments)))
        else:
            rest.append(argument)
    argv = rest
    if jobs > 1 or also:
        return run_parallel(argv, max(jobs, 1), also, summary, record_durations)
    return run_serial(argv, summary)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
