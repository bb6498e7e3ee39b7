"""The schema lock file: the same bytes for the same schemas, clear errors for a bad one, and the command line."""
from __future__ import annotations

import json
import os
import subprocess
import unittest
from pathlib import Path
from typing import Any

from hamcrest import assert_that, contains_string, ends_with, equal_to, has_entries, is_, starts_with
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from microcosm_pubsub.contracts import lock
from microcosm_pubsub.contracts.jsonschema import DIALECT
from microcosm_pubsub.tests.cli_support import (
    RUN_TIMEOUT_SECONDS,
    assert_one_line_error,
    pubsub_command,
    pubsub_in_process,
    temporary_directory,
)
from microcosm_pubsub.tests.test_schema_gate import (
    AMOUNT,
    CUSTOMER,
    ORDER,
    ORDER_HEAD,
    SAMPLE,
    add,
    edited,
    sample_versions,
)


def reversed_dicts(value: Any) -> Any:
    """`value` with every dict's keys in the opposite order."""
    if isinstance(value, dict):
        return {key: reversed_dicts(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_dicts(item) for item in value]
    return value


class TestDeterminism(unittest.TestCase):
    def test_the_same_schemas_give_the_same_bytes_whatever_the_order(self) -> None:
        """Fields declared in another order, media types listed in another order, dicts built in another order:
        the lock's bytes do not change."""
        first = lock.dumps(lock.build(sample_versions([]))[0])
        moved = [(CUSTOMER, ""), (AMOUNT, AMOUNT + CUSTOMER)]
        reordered, _ = lock.build(list(reversed(sample_versions(moved))))
        assert_that(lock.dumps(reordered), is_(equal_to(first)))
        assert_that(lock.dumps(reversed_dicts(reordered)), is_(equal_to(first)))

    def test_the_text_is_sorted_indented_and_ends_with_a_newline(self) -> None:
        """Two-space indentation, sorted keys, one final newline, no clock in it."""
        text = lock.dumps(lock.build(sample_versions([]))[0])
        assert_that(text, ends_with("}\n"))
        assert_that(text, is_(equal_to(json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n")))
        assert_that(json.loads(text), has_entries(format=lock.FORMAT, dialect=DIALECT))

    def test_choices_are_sorted(self) -> None:
        """OneOf choices in another order are the same contract, and the same bytes."""
        one = sample_versions([add('status = fields.String(validate=validate.OneOf(["new", "paid"]))')])
        other = sample_versions([add('status = fields.String(validate=validate.OneOf(["paid", "new"]))')])
        assert_that(lock.dumps(lock.build(other)[0]), is_(equal_to(lock.dumps(lock.build(one)[0]))))

    def test_locked_contracts_are_valid_2020_12_and_accept_real_messages(self) -> None:
        """Each locked JSON Schema is a valid 2020-12 schema, and what the schema dumps validates against it."""
        versions = sample_versions([add("lines = fields.List(fields.String(), allow_none=True)")])
        built, _ = lock.build(versions)
        for version in versions:
            document = built["mediaTypes"][version.media_type]["1"]["jsonSchema"]
            Draft202012Validator.check_schema(document)
            content = {"media_type": version.media_type, "opaque_data": {}, "order_id": "7", "invoice_id": "9",
                       "customer": "ann", "amount_cents": 120, "total": "1.20", "lines": None}
            Draft202012Validator(document).validate(version.schema().dump(content))


class TestLockFileErrors(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = Path(temporary_directory(self))

    def lock_error(self, text: str | None) -> str:
        path = self.folder / "schemas.lock.json"
        if text is not None:
            path.write_text(text, encoding="utf-8")
        with self.assertRaises(lock.LockError) as raised:
            lock.read(path)
        return str(raised.exception)

    def test_a_missing_lock_says_how_to_make_one(self) -> None:
        """No lock file: the error names it and the command that writes it."""
        message = self.lock_error(None)
        assert_that(message, contains_string("no lock file"))
        assert_that(message, contains_string("pubsub schemas lock --schemas MODULE"))

    def test_a_lock_that_is_not_json_names_where(self) -> None:
        """Text that is not JSON: the error says so, with the line and column."""
        assert_that(self.lock_error('{"format": '),
                    contains_string("is not JSON (Expecting value at line 1, column 12)"))

    def test_a_lock_of_another_shape_names_what_is_wrong(self) -> None:
        """JSON that is not a lock: the error names the first problems, where they are."""
        assert_that(self.lock_error("[]"), contains_string("its top level is a JSON list"))
        assert_that(self.lock_error('{"format": "other/1"}'),
                    contains_string("format is 'other/1', and this version reads 'microcosm-pubsub-schema-lock/1'"))
        entry = {"version": "2.0", "schema": "x.S", "jsonSchema": {}, "objects": {}}
        message = self.lock_error(json.dumps({"format": lock.FORMAT, "mediaTypes": {ORDER: {"1": entry}}}))
        assert_that(message, contains_string(f"mediaTypes[{ORDER!r}]['1'] lacks fields"))
        entry["fields"] = {}
        message = self.lock_error(json.dumps({"format": lock.FORMAT, "mediaTypes": {ORDER: {"1": entry}}}))
        assert_that(message, contains_string("version 2.0 is not of major 1"))
        assert_that(message, contains_string("write it again with `pubsub schemas lock`"))


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`pubsub ARGS` in `folder` (whose modules import), compiling nothing: a module rewritten is read again."""
    environ = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([*pubsub_command(), *args], cwd=folder, env=environ, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_SECONDS, check=False)


class TestCommandLine(unittest.TestCase):
    """`pubsub schemas lock` and `pubsub schemas check` on a copy of the sample's schemas module."""

    def setUp(self) -> None:
        self.folder = Path(temporary_directory(self))
        self.module = self.folder / "gate_sample.py"
        self.source = SAMPLE.read_text(encoding="utf-8")
        self.module.write_text(self.source, encoding="utf-8")

    def test_lock_then_check_a_change_in_each_direction(self) -> None:
        """A removed required field passes backward (open model) and fails forward, naming media type, version,
        field and rule; the lock is the same bytes under another hash seed."""
        result = run(self.folder, "schemas", "lock", "--schemas", "gate_sample")
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        assert_that(result.stdout, contains_string("wrote schemas.lock.json: 2 media types, 2 major versions"))
        written = (self.folder / "schemas.lock.json").read_bytes()
        again = run(self.folder, "schemas", "lock", "--schemas", "gate_sample", "--output", "-")
        assert_that(again.stdout.encode(), is_(equal_to(written)))

        self.module.write_text(edited(self.source, [(CUSTOMER, "")]), encoding="utf-8")
        backward = run(self.folder, "schemas", "check", "--schemas", "gate_sample", "--against", "schemas.lock.json")
        assert_that(backward.returncode, is_(equal_to(0)), backward.stderr)
        assert_that(backward.stdout, contains_string(f"safe  {ORDER} 1.0 (against 1.0) customer: required field "
                                                     "removed -- backward (new consumers read old messages)"))
        forward = run(self.folder, "schemas", "check", "--schemas", "gate_sample", "--mode", "forward")
        assert_that(forward.returncode, is_(equal_to(1)), forward.stderr)
        lines = forward.stdout.splitlines()
        assert_that(lines[0], starts_with(f"BREAK {ORDER} 1.0 (against 1.0) customer: required field removed -- "
                                          "forward (old consumers read new messages): new producers no longer send"))
        assert_that(lines[-1], is_(equal_to("1 breaking change, 0 safe changes (forward, 2 schema versions checked)")))

    def test_relocking_a_new_minor_keeps_the_old_one(self) -> None:
        """Locking 1.1 over a lock of 1.0 says it keeps 1.0, and the file has it in the major's history."""
        assert_that(run(self.folder, "schemas", "lock", "--schemas", "gate_sample").returncode, is_(equal_to(0)))
        self.module.write_text(edited(self.source, [(ORDER_HEAD, ORDER_HEAD + '    VERSION = "1.1"\n')]),
                               encoding="utf-8")
        result = run(self.folder, "schemas", "lock", "--schemas", "gate_sample")
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        assert_that(result.stderr, contains_string(f"{ORDER} 1.0 kept in the history of major 1"))
        entry = json.loads((self.folder / "schemas.lock.json").read_text(encoding="utf-8"))["mediaTypes"][ORDER]["1"]
        assert_that([entry["version"], *(earlier["version"] for earlier in entry["history"])],
                    is_(equal_to(["1.1", "1.0"])))



class TestCommandLineErrors(unittest.TestCase):
    """Input errors found before the schemas module is imported, so run in this process."""

    def test_a_missing_or_malformed_lock_exits_2_with_one_line(self) -> None:
        """check without its lock, or lock over a file that is not one: one line saying what to do, status 2."""
        missing = str(Path(temporary_directory(self)) / "none.json")
        status, _, err = pubsub_in_process("schemas", "check", "--schemas", "never_imported", "--against", missing)
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(err, f"no lock file {missing}: write one with `pubsub schemas lock")
        malformed = Path(temporary_directory(self)) / "schemas.lock.json"
        malformed.write_text("not json", encoding="utf-8")
        status, _, err = pubsub_in_process("schemas", "lock", "--schemas", "never_imported", "--output", str(malformed))
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(err, "is not JSON (Expecting value at line 1, column 1)")
        assert_that(err, contains_string("or delete it to start a lock with no history"))

    def test_an_option_of_another_action_is_refused(self) -> None:
        """--mode with lock, or --output with check, is a usage error naming the option."""
        status, _, err = pubsub_in_process("schemas", "lock", "--schemas", "x", "--mode", "full")
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(err, "--mode does not go with `pubsub schemas lock`")
        status, _, err = pubsub_in_process("schemas", "check", "--schemas", "x", "--output", "f")
        assert_one_line_error(err, "--output does not go with `pubsub schemas check`")
