"""Every code example of README.md and docs/*.md runs or is checked; the docs name nothing outside the project.

- python blocks: each Markdown file's blocks run in order in one module namespace, in a child process
  (`python -m microcosm_pubsub.tests.doc_examples FILE`, from the repository's root, so that
  `examples.sample_service` imports), so that the schemas and bindings one file declares cannot clash
  with another's or the suite's. The process gets a local endpoint's boto3 variables (dummy
  credentials, nothing can reach AWS) and a provisioned stack whose topic is the default topic of the
  graphs the docs name (`orders`, `billing`, `myservice`, `sample_service`). The `unittest.TestCase`
  classes a block defines run right after it. Blocks marked `<!-- fragment -->` do not run; blocks
  marked `<!-- file: NAME -->` are the README's first-service walkthrough, run by `TestWalkthrough`.
- console and sh blocks: not run (they need terminals, ports and time), but every `pubsub`
  subcommand and option they show must exist in the parser, every option shown to a daemon
  (`python x.py --flag`) in the daemon's parser, and every `make` target in the Makefile.
- the walkthrough: its files are written into an empty folder and its commands run there for real:
  `pubsub local` with the stack file, the daemon on the environment it printed, `pubsub publish`, and
  the service's own test.
"""
from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hamcrest import assert_that, contains_string, empty, equal_to, greater_than, is_, is_not
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.cli import build_parser
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.runtime.runner import Runner
from microcosm_pubsub.testing import testing_graph
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.cli_support import pubsub_command
from microcosm_pubsub.tests.doc_examples import ROOT, Block, blocks, commands, documents, runnable


# The object graphs the docs' examples create without saying where they publish
DOC_SERVICES = ("orders", "billing", "myservice", "sample_service")
# A hung example fails the test instead of the suite
RUN_TIMEOUT_SECONDS = 120
WALKTHROUGH = "Your first service"
# Commands run by python that are tools, not a service's daemon
TOOLS = {"unittest", "pytest", "nose2", "pip", "venv", "microcosm_pubsub.demo"}
# What user-facing docs must not name: a path of the development workspace, or the tracker's issues
OUTSIDE_REFERENCES = re.compile(r"\.\./shared|/work/|\bissues?\b|(?<![\w&/])#\d+\b", re.IGNORECASE)


def every_block() -> list[Block]:
    return [block for path in documents() for block in blocks(path)]


def doc_environment() -> dict[str, str]:
    """The environment of a process running doc examples: the local endpoint, and a topic for DOC_SERVICES."""
    endpoint = fixtures.endpoint()
    stack = fixtures.new_stack("docs")
    environ = {
        key: value for key, value in os.environ.items()
        if not key.startswith("AWS_") and not any(key.startswith(f"{name.upper()}__") for name in DOC_SERVICES)
    }
    environ.update(endpoint.environ())
    environ["AWS_DEFAULT_REGION"] = endpoint.region_name
    for name in DOC_SERVICES:
        environ[f"{name.upper()}__SNS_TOPIC_ARNS__DEFAULT"] = stack.topic_arn
    return environ


class TestPythonExamples(unittest.TestCase):
    """One test per Markdown file with python blocks (added below), so that a new page is picked up."""

    def run_examples(self, path: Path) -> None:
        result = subprocess.run(
            [sys.executable, "-W", "error", "-m", "microcosm_pubsub.tests.doc_examples", str(path)],
            cwd=ROOT, env=doc_environment(), capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
        assert_that(result.returncode, is_(equal_to(0)), f"{path}'s python examples failed:\n{result.stderr}")


def _examples_test(path: Path) -> Callable[[TestPythonExamples], None]:
    def test(self: TestPythonExamples) -> None:
        self.run_examples(path)

    test.__doc__ = f"Every python block of {path} runs, in order, and the tests they define pass."
    return test


for _path in documents():
    if any(runnable(block) for block in blocks(_path)):
        setattr(TestPythonExamples, "test_" + re.sub(r"\W", "_", str(_path.with_suffix("")).lower()),
                _examples_test(_path))


class DocDaemon(ConsumerDaemon):
    """Any daemon: the options a daemon takes are ConsumerDaemon's."""

    name = "doc"


class TestShellExamples(unittest.TestCase):
    def shown(self) -> list[tuple[Block, list[str]]]:
        return [
            (block, command) for block in every_block() if block.language in ("console", "sh", "shell", "bash")
            for command in commands(block)
        ]

    def test_pubsub_commands_and_options_exist(self) -> None:
        """Every `pubsub` subcommand and option a console or sh block shows is one the command line has."""
        parser = build_parser()
        subcommands: dict[str, Any] = next(
            dict(action.choices or {}) for action in parser._actions if action.dest == "command"
        )
        problems: list[str] = []
        checked = 0
        for block, command in self.shown():
            if command[0] != "pubsub":
                continue
            checked += 1
            subcommand = next((word for word in command[1:] if not word.startswith("-")), None)
            options = parser._option_string_actions
            if subcommand is not None:
                if subcommand not in subcommands:
                    problems.append(f"{block.where}: no subcommand {subcommand!r}: {' '.join(command)}")
                    continue
                options = subcommands[subcommand]._option_string_actions
            problems += [
                f"{block.where}: pubsub {subcommand or ''} has no option {option}"
                for option in options_of(command) if option not in options
            ]
        assert_that(problems, is_(empty()))
        # The blocks' commands are read, not skipped wholesale by a change of layout
        assert_that(checked, is_(greater_than(20)))

    def test_daemon_options_exist(self) -> None:
        """Every option a block passes to a service's daemon (`python orders.py --concurrency 8`) exists."""
        options = DocDaemon().make_arg_parser()._option_string_actions
        problems = [
            f"{block.where}: a daemon has no option {option}"
            for block, command in self.shown() if is_daemon(command)
            for option in options_of(command[2:] if command[1] == "-m" else command) if option not in options
        ]
        assert_that(problems, is_(empty()))

    def test_extras_named_exist(self) -> None:
        """Every extra the docs tell to install (`microcosm_pubsub[local,testing]`) is one setup.py declares."""
        extras = declared_extras()
        named = [
            (f"{path}:{number}", extra)
            for path in documents()
            for number, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), start=1)
            for group in re.findall(r"microcosm[-_]pubsub\[([\w,\s-]+)\]", line)
            for extra in (name.strip() for name in group.split(","))
        ]
        assert_that(named, is_not(empty()))
        assert_that([f"{where}: no extra {extra!r}" for where, extra in named if extra not in extras], is_(empty()))

    def test_installs_never_resolve_to_the_old_package(self) -> None:
        """A `pip install` of this package by name asks for 4 or later; a bare name would get the old 3.0.0."""
        installs = [
            (block, argument) for block, command in self.shown() if command[:2] == ["pip", "install"]
            for argument in command[2:] if re.match(r"microcosm[-_]pubsub\b", argument)
        ]
        assert_that(installs, is_not(empty()))
        assert_that(
            [f"{block.where}: {argument}" for block, argument in installs
             if not re.search(r">=\s*4|\.whl|@\s*git\+", argument)],
            is_(empty()),
        )

    def test_make_targets_exist(self) -> None:
        """Every `make` target a block shows is in the Makefile."""
        makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
        targets = set(re.findall(r"^([\w-]+):", makefile, re.MULTILINE))
        problems = [
            f"{block.where}: no make target {target!r}"
            for block, command in self.shown() if command[0] == "make"
            for target in command[1:] if not target.startswith("-") and target not in targets
        ]
        assert_that(problems, is_(empty()))


def declared_extras() -> set[str]:
    """The extras setup.py declares (read from its source: the installed metadata may be older)."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    return {
        key.value
        for node in ast.walk(tree) if isinstance(node, ast.keyword) and node.arg == "extras_require"
        and isinstance(node.value, ast.Dict)
        for key in node.value.keys if isinstance(key, ast.Constant) and isinstance(key.value, str)
    }


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file: lower case, punctuation dropped, spaces as '-'."""
    anchors = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"^\s*(```|~~~)", line):
            fenced = not fenced
        heading = None if fenced else re.match(r"^#{1,6}\s+(.+?)\s*$", line)
        if heading:
            anchors.add(re.sub(r"[^\w\- ]", "", heading[1].lower()).replace(" ", "-"))
    return anchors


def options_of(command: list[str]) -> list[str]:
    """The options a command line gives (`--name=value` as `--name`), redirections and values left out."""
    return [word.split("=", 1)[0] for word in command[1:] if re.fullmatch(r"--?[A-Za-z][\w-]*(=.*)?", word)]


def is_daemon(command: list[str]) -> bool:
    """`python x.py ...` or `python -m x ...`, x being a service (not a tool such as unittest)."""
    if not command or not re.fullmatch(r"python(3[.\d]*)?", command[0]) or len(command) < 2:
        return False
    if command[1] == "-m":
        return len(command) > 2 and command[2] not in TOOLS and not command[2].startswith("benchmarks")
    return command[1].endswith(".py")


class TestDocText(unittest.TestCase):
    def test_docs_name_no_workspace_path_or_issue(self) -> None:
        """README.md and docs/ speak of the project alone: no development workspace paths, no issue numbers."""
        found = [
            f"{path}:{number}: {match.group(0)!r} in {line.strip()[:100]}"
            for path in documents()
            for number, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), start=1)
            for match in OUTSIDE_REFERENCES.finditer(line)
        ]
        assert_that(found, is_(empty()))

    def test_relative_links_reach_a_file_and_heading(self) -> None:
        """Each link to a file of the repository names one that exists, and a heading of it that exists."""
        broken = []
        for path in documents():
            for number, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), start=1):
                for target in re.findall(r"\]\(([^)\s]+)\)", line):
                    if re.match(r"[a-z]+:", target):
                        continue  # https:, mailto:
                    name, _, anchor = target.partition("#")
                    linked = (ROOT / path).parent / name if name else ROOT / path
                    if not linked.exists():
                        broken.append(f"{path}:{number}: {target}: no such file")
                    elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked):
                        broken.append(f"{path}:{number}: {target}: no such heading")
        assert_that(broken, is_(empty()))

    def test_markers_sit_on_a_block(self) -> None:
        """A `<!-- fragment -->` or `<!-- file: -->` marker is right before a fence, and walkthrough files are
        in the README's walkthrough (nothing marked is silently left unrun)."""
        problems: list[str] = []
        for path in documents():
            lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
            for number, line in enumerate(lines, start=1):
                if re.match(r"^\s*<!--\s*(fragment|file:)", line) and (
                    number >= len(lines) or not re.match(r"^\s*(```|~~~)", lines[number])
                ):
                    problems.append(f"{path}:{number}: marker not right before a fence")
        problems += [
            f"{block.where}: a walkthrough file outside README.md's {WALKTHROUGH!r}"
            for block in every_block()
            if block.file and (str(block.path) != "README.md" or block.section != WALKTHROUGH)
        ]
        assert_that(problems, is_(empty()))


# "with concurrency 1 (at most 31 messages held, 11 of them unhandled)", as the daemon's start-up line says
IN_FLIGHT = re.compile(r"with concurrency (\d+) \(at most (\d+) messages held, (\d+) of them unhandled\)")


def configuration_table() -> list[tuple[str, str, str, str]]:
    """README's configuration table as (where, binding, key, default cell) for each key a row names."""
    rows: list[tuple[str, str, str, str]] = []
    binding = ""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("## Configuration")
    for number, line in enumerate(lines[start:], start=start + 1):
        if line.startswith("## ") and number > start + 1:
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 4 or cells[1] == "key" or set(cells[1]) <= {"-"}:
            continue
        binding = cells[0].strip("`") or binding
        keys = re.findall(r"`([^`]+)`", cells[1])
        defaults = [cells[2]] * len(keys) if cells[2].startswith("unset") else cells[2].split(", ")
        if any("<" in key for key in keys) or len(defaults) != len(keys):
            continue
        rows += [(f"README.md:{number}", binding, key, default) for key, default in zip(keys, defaults, strict=True)]
    return rows


class TestDocsAgreeWithCode(unittest.TestCase):
    def test_in_flight_figures_are_the_runners(self) -> None:
        """The in-flight figures the docs quote from the start-up line are the runner's for that concurrency."""
        quoted = [
            (path, match) for path in documents()
            for match in IN_FLIGHT.finditer((ROOT / path).read_text(encoding="utf-8"))
        ]
        assert_that(quoted, is_not(empty()))
        graph = testing_graph()
        for path, match in quoted:
            concurrency, held, unhandled = (int(group) for group in match.groups())
            runner = Runner(graph.sqs_message_dispatcher, graph.sqs_consumer, concurrency, threading.Event())
            in_flight = runner.in_flight
            assert_that((in_flight.limit, in_flight.capacity), is_(equal_to((held, unhandled))), f"{path}: {match[0]}")

    def test_configuration_defaults_are_the_codes(self) -> None:
        """Each default README's configuration table gives is the configuration's own (`unset`: none)."""
        config = create_object_graph("docs", testing=True, loader=load_from_dict({})).config
        rows = configuration_table()
        problems = []
        for where, binding, key, default in rows:
            value = config[binding].get(key)
            expected = None if default.startswith("unset") else default.strip("`")
            if isinstance(value, float) and expected is not None and re.fullmatch(r"\d+(\.\d+)?", expected):
                # A float setting shown as a number: 5 for 5.0
                value = value if float(expected) != value else expected
            shown = None if value is None else value if isinstance(value, str) else json.dumps(value)
            if shown != expected:
                problems.append(f"{where}: {binding}.{key} is {value!r} in the code, {default} in the table")
        assert_that(problems, is_(empty()))
        # The table's rows are read, not skipped wholesale by a change of layout
        assert_that(len(rows), is_(greater_than(20)))


# A service's tests provoking a warning on purpose: an unreadable Lambda record, logged INVALID under its id
NOISY_TESTS = """\
import unittest

from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.testing import lambda_event, lambda_record, sqs_message


class QuietDaemon(ConsumerDaemon):
    name = "quiet"


def retried(message_id):
    handler = QuietDaemon.create_for_testing().make_lambda_handler()
    response = handler(lambda_event(lambda_record(sqs_message("{not json", message_id=message_id))), None)
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


class TestNoisy(unittest.TestCase):
    def test_passes(self):
        self.assertEqual(retried("record-of-a-passing-test"), ["record-of-a-passing-test"])

    def test_fails(self):
        self.assertEqual(retried("record-of-a-failing-test"), [])
"""


class TestQuietRuns(unittest.TestCase):
    def test_nose2_configuration_keeps_the_log_of_passing_tests_out(self) -> None:
        """With docs/testing.md's nose2.cfg, a passing test's warnings are not printed; a failing test's are."""
        [config] = [block for block in blocks(Path("docs/testing.md")) if block.language == "ini"]
        folder = tempfile.TemporaryDirectory(prefix="quiet-")
        self.addCleanup(folder.cleanup)
        (Path(folder.name) / "nose2.cfg").write_text(config.code, encoding="utf-8")
        (Path(folder.name) / "test_noisy.py").write_text(NOISY_TESTS, encoding="utf-8")
        environ = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}

        result = subprocess.run(
            [sys.executable, "-m", "nose2"], cwd=folder.name, env=environ, capture_output=True, text=True,
            timeout=RUN_TIMEOUT_SECONDS, check=False,
        )

        output = result.stdout + result.stderr
        assert_that(output, contains_string("FAILED (failures=1)"))
        captured = output.split(">> begin captured logging <<", 1)[-1].split(">> end captured logging <<", 1)[0]
        assert_that(captured, contains_string("INVALID None record-of-a-failing-test"))
        assert_that(output, is_not(contains_string("record-of-a-passing-test")))
        assert_that(output, is_not(contains_string("DEBUG")))


class TestWalkthrough(unittest.TestCase):
    """The README's first service, from an empty folder: its files written out, its commands run."""

    def setUp(self) -> None:
        section = [block for block in blocks(Path("README.md")) if block.section == WALKTHROUGH]
        self.files = {block.file: block.code for block in section if block.file}
        self.commands = [command for block in section if block.language == "sh" for command in commands(block)]
        folder = tempfile.TemporaryDirectory(prefix="first-service-")
        self.addCleanup(folder.cleanup)
        self.folder = Path(folder.name)
        self.environ = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "BILLING__"))}
        self.environ["PYTHONPATH"] = ""
        self.processes: list[subprocess.Popen[str]] = []
        self.addCleanup(self.stop_all)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                # Ctrl-C, as the walkthrough stops them; killed if that does not do
                process.send_signal(signal.SIGINT)
                try:
                    process.communicate(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
            process.communicate()

    def start(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            argv, cwd=self.folder, env=dict(self.environ), stdin=subprocess.DEVNULL, text=True, **kwargs,
        )
        self.processes.append(process)
        return process

    def run_command(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=self.folder, env=dict(self.environ), capture_output=True, text=True,
            timeout=RUN_TIMEOUT_SECONDS, check=False,
        )

    def wait_for(self, ready: Callable[[], bool], what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            assert_that(time.monotonic() < deadline, is_(equal_to(True)), f"waited {seconds}s for {what}")
            time.sleep(0.05)

    def load_env(self) -> None:
        """`set -a; . ./.env; set +a`: KEY=value lines, comments skipped."""
        for line in (self.folder / ".env").read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                self.environ[key] = value

    def test_from_an_empty_folder_to_a_handled_message_and_a_passing_test(self) -> None:
        """The walkthrough's daemon handles the order it publishes through `pubsub local`, and its test passes."""
        assert_that(sorted(self.files), is_(equal_to(["billing.py", "stack.json", "test_billing.py"])))
        for name, code in self.files.items():
            (self.folder / name).write_text(code, encoding="utf-8")
        daemon: subprocess.Popen[str] | None = None
        ran: list[str] = []
        for command in self.commands:
            program = command[0]
            if program in ("mkdir", "cd", "pip") or (program == "." and ".venv" in command[1]) or (
                program.startswith("python3.") and "venv" in command
            ):
                continue  # the environment: this test's own
            ran.append(" ".join(command[:2]))
            if program == "set":
                continue
            if program == ".":
                self.load_env()
            elif command[:2] == ["pubsub", "local"]:
                assert_that(command[-2:], is_(equal_to([">", ".env"])))
                with open(self.folder / ".env", "w", encoding="utf-8") as env_file:
                    self.start([*pubsub_command(), *command[1:-2]], stdout=env_file, stderr=subprocess.PIPE)
                self.wait_for(lambda: "# ready" in (self.folder / ".env").read_text(encoding="utf-8"), "pubsub local")
            elif program == "python" and command[1:] == ["billing.py"]:
                # Stopping waits for a receive in progress: a short long poll keeps this test from waiting 20 s
                self.environ.setdefault("BILLING__SQS_CONSUMER__WAIT_SECONDS", "1")
                daemon = self.start([sys.executable, *command[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            elif program == "pubsub":
                result = self.run_command([*pubsub_command(), *command[1:]])
                assert_that(result.returncode, is_(equal_to(0)), f"{' '.join(command)}:\n{result.stderr}")
            elif program == "python" and command[1:3] == ["-m", "unittest"]:
                result = self.run_command([sys.executable, *command[1:]])
                assert_that(result.returncode, is_(equal_to(0)), result.stderr)
                assert_that(result.stderr, contains_string("OK"))
            else:
                self.fail(f"README.md's walkthrough runs {' '.join(command)!r}, which this test does not know")

        assert_that(ran, is_(equal_to([
            "pubsub local", "set -a", ". ./.env", "set +a", "python billing.py", "set -a", ". ./.env", "set +a",
            "pubsub publish", "python -m",
        ])))
        assert daemon is not None and daemon.stdout is not None
        printed: list[str] = []
        reader = threading.Thread(target=lambda: printed.extend(daemon.stdout or []), daemon=True)
        reader.start()
        # The daemon prints a line per billed order; the order published above is 42
        self.wait_for(lambda: bool(printed) or daemon.poll() is not None, "the daemon to bill the order")
        daemon.send_signal(signal.SIGINT)
        _, log = daemon.communicate(timeout=RUN_TIMEOUT_SECONDS)
        reader.join(timeout=5)
        assert_that(printed, is_(equal_to(["billed order 42\n"])), log)
        assert_that(daemon.returncode, is_(equal_to(0)), log)
        assert_that(log, contains_string("SUCCEEDED application/vnd.globality.pubsub._.created.order"))
        assert_that(log, contains_string("handler=__main__.BillOrder"))
