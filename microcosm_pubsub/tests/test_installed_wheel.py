"""The wheel on its own: built from the source tree, installed with the testing extra into a fresh environment,
and used from a folder outside the repository.

Dependencies come from a local wheelhouse (`MICROCOSM_PUBSUB_WHEELHOUSE`; `make test` downloads it once with
pip, like the old package's environment), never from an index, and uv installs them, linking wheels it has
already unpacked from its cache: the environment is new every run, its dependencies resolved from the
wheel's own metadata, in a few seconds instead of pip's half minute.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from pathlib import Path
from typing import ClassVar
from unittest import SkipTest, TestCase

from hamcrest import assert_that, contains_string, empty, equal_to, greater_than, is_, starts_with
from packaging.version import Version


ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = os.environ.get("MICROCOSM_PUBSUB_WHEELHOUSE")
# What the sdist is built from; the build then makes the wheel from the sdist, so a file it misses fails here
SOURCE_FILES = ("setup.py", "pyproject.toml", "entrypoints.cfg", "README.md", "MANIFEST.in")
OLD_PACKAGE_LAST_RELEASE = Version("3.0.0")

SERVICE_FILES = {
    "orders_service/__init__.py": "",
    "orders_service/daemon.py": '''
        from marshmallow import fields
        from microcosm.api import binding

        from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
        from microcosm_pubsub.conventions import created
        from microcosm_pubsub.runtime.daemon import ConsumerDaemon
        from microcosm_pubsub.schemas.decorators import handles, schema


        @schema
        class OrderCreated(PubSubMessageSchema):
            MEDIA_TYPE = created("wheel_check_order")
            order_id = fields.String(data_key="orderId", required=True)
            amount_cents = fields.Integer(data_key="amountCents", required=True)


        @schema
        class InvoiceCreated(PubSubMessageSchema):
            MEDIA_TYPE = created("wheel_check_invoice")
            order_id = fields.String(data_key="orderId", required=True)


        @binding("order_handler")
        @handles(OrderCreated)
        class OrderHandler:
            def __init__(self, graph):
                self.graph = graph

            def __call__(self, message):
                if not message["amount_cents"]:
                    return False
                self.graph.sns_producer.produce(InvoiceCreated.MEDIA_TYPE, order_id=message["order_id"])
                return True


        class OrdersDaemon(ConsumerDaemon):
            name = "orders"

            @property
            def components(self):
                return [*super().components, "order_handler"]
    ''',
    "tests/test_orders.py": '''
        import unittest

        from hamcrest import assert_that, equal_to, is_

        from microcosm_pubsub.consume.result import Outcome
        from microcosm_pubsub.testing import IntegrationEnvironment, dispatch, testing_daemon
        from microcosm_pubsub.testing.matchers import not_published, published

        from orders_service.daemon import InvoiceCreated, OrderCreated, OrdersDaemon


        class TestOrders(unittest.TestCase):
            def setUp(self):
                self.graph = testing_daemon(OrdersDaemon).graph

            def test_order_is_invoiced(self):
                result = dispatch(self.graph, OrderCreated.MEDIA_TYPE, {"order_id": "o-1", "amount_cents": 100})
                assert_that(result.outcome, is_(equal_to(Outcome.SUCCEEDED)))
                assert_that(self.graph.sns_producer, published(InvoiceCreated.MEDIA_TYPE, order_id="o-1"))

            def test_free_order_is_skipped(self):
                result = dispatch(self.graph, OrderCreated.MEDIA_TYPE, {"order_id": "o-2", "amount_cents": 0})
                assert_that(result.outcome, is_(equal_to(Outcome.SKIPPED)))
                assert_that(self.graph.sns_producer, not_published(InvoiceCreated.MEDIA_TYPE))


        class TestOnLocalEndpoint(unittest.TestCase):
            def test_order_through_sns_and_sqs(self):
                environment = IntegrationEnvironment.setup(self, name="wheel-check")
                graph = environment.daemon(OrdersDaemon).graph
                graph.sns_producer.produce(OrderCreated.MEDIA_TYPE, order_id="o-3", amount_cents=5)
                environment.consume(graph)
                assert_that(environment.published(), published(InvoiceCreated.MEDIA_TYPE, order_id="o-3"))
    ''',
}

# Run by the fresh environment's Python: imports every test module the wheel ships. The test tools of the
# `test` extra (nose2, hypothesis, ...) come from this suite's environment, appended after the fresh one's
# packages (that environment may live in the repository: its files are not counted as taken from it); the
# repository itself is not on the path, so anything imported from it fails here
IMPORT_SHIPPED_TESTS = '''
import importlib, importlib.metadata, json, sys
sys.path.append(sys.argv[1])
names = sorted(
    str(path)[:-3].replace("/", ".").removesuffix(".__init__")
    for path in importlib.metadata.files("microcosm_pubsub")
    if str(path).startswith("microcosm_pubsub/tests/") and str(path).endswith(".py") and "/interop/" not in str(path)
)
failures = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as error:
        failures[name] = f"{type(error).__name__}: {error}"
files = [getattr(module, "__file__", None) or "" for module in list(sys.modules.values())]
print(json.dumps({
    "modules": names,
    "failures": failures,
    "from_repository": sorted(
        path for path in files if path.startswith(sys.argv[2]) and not path.startswith(sys.argv[1])
    ),
}))
'''


def run(command: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=clean_environment(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def clean_environment() -> dict[str, str]:
    """This process's environment without what would point Python, pip or AWS at the repository or an account."""
    dropped = ("PYTHON", "VIRTUAL_ENV", "AWS_", "MICROCOSM", "PIP_")
    return {key: value for key, value in os.environ.items() if not key.startswith(dropped)}


def checked(completed: subprocess.CompletedProcess[str]) -> str:
    assert_that(completed.returncode, is_(equal_to(0)), f"{completed.args}\n{completed.stdout[-3000:]}"
                                                        f"\n{completed.stderr[-3000:]}")
    return completed.stdout


def source_test_modules() -> list[str]:
    """The source tree's test modules, less those setup.py keeps out of the wheel (the repository's own)."""
    (left_out,) = (
        ast.literal_eval(node.value) for node in ast.parse((ROOT / "setup.py").read_text()).body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "REPOSITORY_ONLY_MODULES"
    )
    names = (
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in (ROOT / "microcosm_pubsub" / "tests").rglob("*.py") if "interop" not in path.parts
    )
    return sorted(name for name in names if tuple(name.rsplit(".", 1)) not in left_out)


class TestInstalledWheel(TestCase):
    """One wheel and one fresh environment for the class (building and installing are the slow part)."""

    work: ClassVar[Path]
    wheel: ClassVar[Path]
    python: ClassVar[Path]

    @classmethod
    def setUpClass(cls) -> None:
        if not WHEELHOUSE:
            raise SkipTest("MICROCOSM_PUBSUB_WHEELHOUSE is not set (make test downloads the wheelhouse and sets it)")
        if not (ROOT / "setup.py").is_file():
            raise SkipTest("builds the wheel from the source tree, which an installed package does not have")
        cls.work = Path(tempfile.mkdtemp(prefix="installed-wheel-"))
        cls.addClassCleanup(shutil.rmtree, cls.work, ignore_errors=True)
        cls.wheel = cls.build_wheel()
        cls.python = cls.install(cls.work / "venv")

    @classmethod
    def build_wheel(cls) -> Path:
        """sdist from a copy of the sources, then the wheel from the sdist (the repository is left untouched)."""
        source = cls.work / "source"
        source.mkdir()
        for name in SOURCE_FILES:
            shutil.copy2(ROOT / name, source / name)
        shutil.copytree(ROOT / "microcosm_pubsub", source / "microcosm_pubsub",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # No isolation: the build backend of this environment, so no index is needed
        checked(run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(cls.work / "dist"),
                     str(source)], cwd=cls.work))
        (wheel,) = (cls.work / "dist").glob("*.whl")
        return wheel

    @classmethod
    def install(cls, venv: Path) -> Path:
        base_python = getattr(sys, "_base_executable", sys.executable)
        checked(run([sys.executable, "-m", "uv", "venv", "--quiet", "--python", base_python, str(venv)], cwd=cls.work))
        python = venv / "bin" / "python"
        checked(run([
            sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", str(python),
            "--no-index", "--find-links", str(WHEELHOUSE), f"{cls.wheel}[testing]",
        ], cwd=cls.work))
        return python

    def test_service_tests_pass_outside_the_repository(self) -> None:
        """A small service's tests, using microcosm_pubsub.testing, pass against the installed wheel alone."""
        service = self.work / "service"
        for name, text in SERVICE_FILES.items():
            (service / name).parent.mkdir(parents=True, exist_ok=True)
            (service / name).write_text(textwrap.dedent(text))
        (service / "tests" / "__init__.py").write_text("")
        where = "import microcosm_pubsub; print(microcosm_pubsub.__file__)"
        imported_from = checked(run([str(self.python), "-c", where], cwd=service))
        assert_that(imported_from, starts_with(str(self.work / "venv")))
        completed = run([str(self.python), "-m", "unittest", "discover", "-s", "tests", "-t", "."], cwd=service)
        checked(completed)
        assert_that(completed.stderr, contains_string("Ran 3 tests"))

    def test_shipped_tests_import_only_what_is_shipped(self) -> None:
        """Every test module in the wheel imports, outside the repository, with nothing taken from it."""
        site_packages = sysconfig.get_paths()["purelib"]
        output = checked(run([str(self.python), "-I", "-c", IMPORT_SHIPPED_TESTS, site_packages, str(ROOT)],
                             cwd=self.work))
        report = json.loads(output.splitlines()[-1])
        assert_that(report["modules"], is_(equal_to(source_test_modules())))
        assert_that(report["failures"], is_(equal_to({})))
        assert_that(report["from_repository"], is_(empty()))

    def test_version_is_above_the_old_package(self) -> None:
        """The installed version is above the old microcosm-pubsub's last release, so pip prefers it."""
        version = "import importlib.metadata as m; print(m.version('microcosm-pubsub'))"
        output = checked(run([str(self.python), "-c", version], cwd=self.work))
        assert_that(Version(output.strip()), is_(greater_than(OLD_PACKAGE_LAST_RELEASE)))
        assert_that(self.wheel.name, starts_with(f"microcosm_pubsub-{output.strip()}-"))

    def test_console_script_installed(self) -> None:
        """The wheel's `pubsub` command is installed and prints the wheel's version."""
        output = checked(run([str(self.python.parent / "pubsub"), "--version"], cwd=self.work))
        program, version = output.split()
        wheel = f"microcosm_pubsub-{version}-py3-none-any.whl"
        assert_that((program, self.wheel.name), is_(equal_to(("pubsub", wheel))))
