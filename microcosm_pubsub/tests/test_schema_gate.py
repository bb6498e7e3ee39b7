"""`pubsub schemas check`'s rules: the sample service's schemas through one edit at a time, in every mode."""
from __future__ import annotations

import types
import unittest
from pathlib import Path
from typing import NamedTuple

from hamcrest import assert_that, contains_string, empty, equal_to, has_item, has_length, is_, is_not
from marshmallow import Schema

from microcosm_pubsub.contracts import gate, lock
from microcosm_pubsub.contracts.gate import Finding, Report
from microcosm_pubsub.schemas.decorators import media_type_of
from microcosm_pubsub.schemas.versioning import version_of
from microcosm_pubsub.schemas.versions import SchemaVersion


ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample_service" / "schemas.py"
ORDER = "application/vnd.globality.pubsub._.created.sample_order"
INVOICE = "application/vnd.globality.pubsub._.created.sample_invoice"
NON_TRANSITIVE = ("backward", "forward", "full")

# Each row of CASES copies examples/sample_service/schemas.py, edits it as a developer would (the lock is taken
# from the copy before the edit), and says which readers the edit breaks: B (backward: consumers on the new
# schema read old messages), F (forward: consumers on the old schema read new messages), both, or none. Every
# mode must classify it so: backward and backward-transitive fail on B, forward and forward-transitive on F, full
# and full-transitive on either.

# Lines of the sample's OrderCreatedSchema the edits start from
IMPORTS = "from marshmallow import fields, validate\n"
ORDER_HEAD = '    MEDIA_TYPE = created("sample_order")\n'
ORDER_ID = '    order_id = fields.String(data_key="orderId", required=True)\n'
CUSTOMER = "    customer = fields.String(required=True)\n"
AMOUNT = '    amount_cents = fields.Integer(data_key="amountCents", required=True, validate=validate.Range(min=0))\n'
INVOICE_HEAD = "@schema\nclass InvoiceCreatedSchema"
CLOSED = ORDER_HEAD + "\n    class Meta:\n        unknown = RAISE\n"

Edit = tuple[str, str]


def edited(source: str, edits: list[Edit]) -> str:
    """`source` with each (old, new) replacement made once, in order; an old text it lacks is the test's bug."""
    for old, new in edits:
        if old not in source:
            raise AssertionError(f"the sample schemas no longer contain {old!r}: update this test's edits")
        source = source.replace(old, new, 1)
    return source


def sample_versions(edits: list[Edit], name: str = "edited_sample") -> list[SchemaVersion]:
    """The schema versions of an edited copy of the sample's schemas module.

    The copy is a fresh module, not imported by name and without `@schema`, so that none of its classes is
    declared to this process's registries (the sample service's own tests may run in it too).
    """
    source = edited(SAMPLE.read_text(encoding="utf-8"), [
        (IMPORTS, "import enum\n\nfrom marshmallow import RAISE, Schema, fields, validate\n"), *edits,
    ]).replace("@schema\n", "")
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # our own sample's source, as edited above
    found = [
        value for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Schema) and isinstance(getattr(value, "MEDIA_TYPE", None), str)
        and value.__module__ == name
    ]
    return sorted((SchemaVersion(media_type_of(value), str(version_of(value)), value) for value in found),
                  key=lambda version: (version.media_type, lock.version_key(version.version)))


def locked(edits: list[Edit], previous: lock.Lock | None = None) -> lock.Lock:
    built, _ = lock.build(sample_versions(edits), previous)
    return built


class Case(NamedTuple):
    """An edit a developer makes, and the readers it breaks ("B", "F", "BF" or "")."""

    name: str
    base: list[Edit]
    change: list[Edit]
    path: str
    rule: str
    breaks: str


def add(field: str) -> Edit:
    """Declare `field` (a line of Python) last in OrderCreatedSchema."""
    return AMOUNT, AMOUNT + f"    {field}\n"


LINES = ("class LineSchema(Schema):\n    sku = fields.String(required=True)\n    count = fields.Integer()\n\n\n"
         "@schema\nclass OrderCreatedSchema")
STATUS = "class Status(enum.Enum):\n    NEW = \"new\"\n    PAID = \"paid\"\n\n\n@schema\nclass OrderCreatedSchema"

CASES = [
    Case("an optional field is added (open model)", [], [add("note = fields.String()")],
         "note", "optional field added", ""),
    Case("a required field is added (open model)", [], [add("note = fields.String(required=True)")],
         "note", "field added as required", "B"),
    Case("an optional field is added to a closed model", [(ORDER_HEAD, CLOSED)], [add("note = fields.String()")],
         "note", "optional field added under a closed model", "F"),
    Case("a required field is added to a closed model", [(ORDER_HEAD, CLOSED)],
         [add("note = fields.String(required=True)")], "note", "field added as required under a closed model", "BF"),
    Case("an optional field is removed (open model)", [add("note = fields.String()")],
         [("    note = fields.String()\n", "")], "note", "field removed", ""),
    Case("a required field is removed (open model)", [], [(CUSTOMER, "")], "customer", "required field removed", "F"),
    Case("an optional field is removed from a closed model", [(ORDER_HEAD, CLOSED), add("note = fields.String()")],
         [("    note = fields.String()\n", "")], "note", "field removed under a closed model", "B"),
    Case("a required field is removed from a closed model", [(ORDER_HEAD, CLOSED)], [(CUSTOMER, "")],
         "customer", "required field removed under a closed model", "BF"),
    Case("a field is made required", [add("note = fields.String()")],
         [("note = fields.String()", "note = fields.String(required=True)")], "note", "field made required", "B"),
    Case("a field is made optional", [], [(CUSTOMER, "    customer = fields.String()\n")],
         "customer", "field made optional", "F"),
    Case("a field's type changes (string to integer)", [],
         [(CUSTOMER, "    customer = fields.Integer(required=True)\n")],
         "customer", "type changed (string -> integer)", "BF"),
    Case("a field's type is widened (integer to float)", [],
         [("amount_cents = fields.Integer(", "amount_cents = fields.Float(")],
         "amountCents", "type widened (integer -> number)", "F"),
    Case("a field's type is narrowed (float to integer)",
         [("amount_cents = fields.Integer(", "amount_cents = fields.Float(")],
         [("amount_cents = fields.Float(", "amount_cents = fields.Integer(")],
         "amountCents", "type narrowed (number -> integer)", "B"),
    Case("a string becomes an email", [], [(CUSTOMER, "    customer = fields.Email(required=True)\n")],
         "customer", "type narrowed (string -> string/email)", "B"),
    Case("a OneOf choice is added", [add('status = fields.String(validate=validate.OneOf(["new", "paid"]))')],
         [('["new", "paid"]', '["new", "paid", "refunded"]')], "status", 'enum value added ("refunded")', "F"),
    Case("a OneOf choice is removed", [add('status = fields.String(validate=validate.OneOf(["new", "paid"]))')],
         [('["new", "paid"]', '["new"]')], "status", 'enum value removed ("paid")', "B"),
    Case("a member of an Enum field is removed",
         [("@schema\nclass OrderCreatedSchema", STATUS), add("status = fields.Enum(Status, by_value=True)")],
         [('    PAID = "paid"\n', "")], "status", 'enum value removed ("paid")', "B"),
    Case("a member of an Enum field is added",
         [("@schema\nclass OrderCreatedSchema", STATUS), add("status = fields.Enum(Status, by_value=True)")],
         [('    PAID = "paid"\n', '    PAID = "paid"\n    VOID = "void"\n')], "status", 'enum value added ("void")',
         "F"),
    Case("a string field is limited to choices", [],
         [(CUSTOMER, '    customer = fields.String(required=True, validate=validate.OneOf(["a", "b"]))\n')],
         "customer", "validator tightened (values limited to", "B"),
    Case("a range's minimum is raised", [], [("validate.Range(min=0)", "validate.Range(min=1)")],
         "amountCents", "validator tightened (minimum range 0 -> 1)", "B"),
    Case("a range becomes exclusive", [], [("validate.Range(min=0)", "validate.Range(min=0, min_inclusive=False)")],
         "amountCents", "validator tightened (minimum range 0 -> 0 (exclusive))", "B"),
    Case("a range is dropped", [], [(", validate=validate.Range(min=0)", "")],
         "amountCents", "validator loosened (minimum range 0 -> none)", "F"),
    Case("a maximum length is lowered",
         [(CUSTOMER, "    customer = fields.String(required=True, validate=validate.Length(max=100))\n")],
         [("Length(max=100)", "Length(max=50)")], "customer", "validator tightened (maximum length 100 -> 50)", "B"),
    Case("a maximum length is raised",
         [(CUSTOMER, "    customer = fields.String(required=True, validate=validate.Length(max=100))\n")],
         [("Length(max=100)", "Length(max=200)")], "customer", "validator loosened (maximum length 100 -> 200)", "F"),
    Case("a regular expression is added", [],
         [(CUSTOMER, '    customer = fields.String(required=True, validate=validate.Regexp("^[a-z]+$"))\n')],
         "customer", "validator tightened (pattern", "B"),
    Case("a regular expression changes",
         [(CUSTOMER, '    customer = fields.String(required=True, validate=validate.Regexp("^[a-z]+$"))\n')],
         [('"^[a-z]+$"', '"^[a-z0-9]+$"')], "customer", "validator changed (pattern", "BF"),
    Case("null is no longer allowed", [(CUSTOMER, "    customer = fields.String(required=True, allow_none=True)\n")],
         [(", allow_none=True", "")], "customer", "nullable removed", "B"),
    Case("null becomes allowed", [], [(CUSTOMER, "    customer = fields.String(required=True, allow_none=True)\n")],
         "customer", "nullable added", "F"),
    Case("a nested schema's field is made required",
         [("@schema\nclass OrderCreatedSchema", LINES), add("lines = fields.Nested(LineSchema, many=True)")],
         [("    count = fields.Integer()\n", "    count = fields.Integer(required=True)\n")],
         "lines[].count", "field made required", "B"),
    Case("a field is added to a nested schema (closed: marshmallow's default)",
         [("@schema\nclass OrderCreatedSchema", LINES), add("lines = fields.Nested(LineSchema, many=True)")],
         [("    count = fields.Integer()\n", "    count = fields.Integer()\n    colour = fields.String()\n")],
         "lines[].colour", "optional field added under a closed model", "F"),
    Case("a list's item type changes", [add("tags = fields.List(fields.String())")],
         [("fields.List(fields.String())", "fields.List(fields.Integer())")],
         "tags[]", "list item type changed (string -> integer)", "BF"),
    Case("a map's value type changes", [add("scores = fields.Dict(keys=fields.String(), values=fields.Integer())")],
         [("values=fields.Integer()", "values=fields.String()")], "scores{}", "type changed (integer -> string)", "BF"),
    Case("a nested schema becomes a map", [("@schema\nclass OrderCreatedSchema", LINES),
                                            add("line = fields.Nested(LineSchema)")],
         [("fields.Nested(LineSchema)", "fields.Dict(values=fields.String())")],
         "line", "type changed (object with fields -> map)", "BF"),
    Case("a free-form dict becomes a nested schema", [("@schema\nclass OrderCreatedSchema", LINES),
                                                      add("line = fields.Dict()")],
         [("fields.Dict()", "fields.Nested(LineSchema)")], "line", "type narrowed (any object -> object with fields)",
         "B"),
    Case("a data key (wire name) is renamed", [], [('data_key="orderId"', 'data_key="orderRef"')],
         "orderRef", "data key renamed (orderId -> orderRef, attribute order_id)", "BF"),
    Case("the model is closed", [], [(ORDER_HEAD, CLOSED)], "", "model made closed", ""),
]


def expected_breaks(case: Case, mode: str) -> bool:
    directions = {"B": "backward", "F": "forward"}
    wanted = {directions[letter] for letter in case.breaks}
    return bool(wanted & set(gate.MODES[mode]))


def findings_at(report: Report, path: str) -> list[Finding]:
    return [finding for finding in report.findings if finding.media_type == ORDER and finding.path == path]


class TestRules(unittest.TestCase):
    def test_every_rule_in_every_mode(self) -> None:
        """Each edit is reported at its field path under its rule, breaking exactly the modes it should."""
        for case in CASES:
            against = locked(case.base)
            versions = sample_versions([*case.base, *case.change])
            for mode in gate.MODES:
                with self.subTest(case=case.name, mode=mode):
                    report = gate.check(against, versions, mode)
                    found = findings_at(report, case.path)
                    assert_that([finding.rule for finding in found], has_item(contains_string(case.rule)))
                    finding = next(finding for finding in found if case.rule in finding.rule)
                    assert_that(finding.breaks, is_(expected_breaks(case, mode)), finding.line())
                    # Nothing else breaks: the other findings of the edit are safe in this mode
                    assert_that([item.line() for item in report.breaks if item is not finding], is_(empty()))
                    assert_that(finding.version, is_(equal_to("1.0")))
                    assert_that(finding.against, is_(equal_to("1.0")))

    def test_a_documentation_change_is_no_change(self) -> None:
        """A new docstring or field description is not a change of the contract: nothing is reported."""
        against = locked([])
        versions = sample_versions([
            ('"""Published by the (imaginary) order service."""', '"""Orders, as the order service publishes them."""'),
            (CUSTOMER, '    customer = fields.String(required=True, metadata={"description": "who ordered"})\n'),
        ])
        for mode in gate.MODES:
            assert_that(gate.check(against, versions, mode).findings, is_(empty()))

    def test_an_unchanged_schema_passes_every_mode(self) -> None:
        """The schemas the lock was taken from pass every mode with nothing to report."""
        against = locked([])
        for mode in gate.MODES:
            report = gate.check(against, sample_versions([]), mode)
            assert_that(report.findings, is_(empty()))
            assert_that(report.lines(),
                        is_(equal_to([f"0 breaking changes, 0 safe changes ({mode}, 2 schema versions checked)"])))


class TestMediaTypesAndMajors(unittest.TestCase):
    def test_a_media_type_missing_from_the_lock_is_new_and_safe(self) -> None:
        """A media type the lock does not have is reported as new, and breaks no mode."""
        against = locked([])
        del against["mediaTypes"][INVOICE]
        for mode in gate.MODES:
            report = gate.check(against, sample_versions([]), mode)
            assert_that([(finding.media_type, finding.rule, finding.breaks) for finding in report.findings],
                        is_(equal_to([(INVOICE, "new media type", False)])))

    def test_a_new_major_is_a_new_contract(self) -> None:
        """A major the lock lacks needs no compatibility with the previous one: new, safe, whatever it changed."""
        against = locked([])
        second = (INVOICE_HEAD, 'class OrderCreatedV2Schema(PubSubMessageSchema):\n    MEDIA_TYPE = created("sample_'
                  'order")\n    VERSION = "2.0"\n\n    order_ref = fields.Integer(data_key="orderRef", required=True)\n'
                  f"\n\n{INVOICE_HEAD}")
        versions = sample_versions([second])
        assert_that([version.version for version in versions if version.media_type == ORDER],
                    is_(equal_to(["1.0", "2.0"])))
        for mode in gate.MODES:
            report = gate.check(against, versions, mode)
            assert_that([(finding.version, finding.rule, finding.breaks) for finding in report.findings],
                        is_(equal_to([("2.0", "new major version", False)])))

    def test_a_removed_major_breaks_unless_allowed(self) -> None:
        """A major the lock has and the schemas no longer declare breaks every mode, unless allowed."""
        second = (INVOICE_HEAD, 'class OrderCreatedV2Schema(PubSubMessageSchema):\n    MEDIA_TYPE = created("sample_'
                  f'order")\n    VERSION = "2.0"\n\n    order_ref = fields.Integer(required=True)\n\n\n{INVOICE_HEAD}')
        against = locked([second])
        versions = sample_versions([])
        for mode in gate.MODES:
            report = gate.check(against, versions, mode)
            assert_that([(finding.media_type, finding.version, finding.rule) for finding in report.breaks],
                        is_(equal_to([(ORDER, "2.0", "major version removed")])))
            assert_that(report.breaks[0].why, contains_string("--allow-removed-major"))
            allowed = gate.check(against, versions, mode, allow_removed_major=True)
            assert_that(allowed.breaks, is_(empty()))
            assert_that(allowed.findings, has_length(1))

    def test_a_removed_media_type_is_named_so(self) -> None:
        """A media type gone altogether is a break named as such."""
        against = locked([])
        versions = [version for version in sample_versions([]) if version.media_type != INVOICE]
        report = gate.check(against, versions, "forward")
        assert_that([(finding.media_type, finding.rule) for finding in report.breaks],
                    is_(equal_to([(INVOICE, "media type removed")])))


class TestTransitive(unittest.TestCase):
    """1.0 has an optional integer `size`; 1.1 removes it; 1.2 brings it back as a string.

    Against the last locked version (1.1) adding an optional field is safe; against 1.0, which the lock keeps
    in its history, `size` changed type: only the transitive modes see it.
    """

    def setUp(self) -> None:
        first = locked([add("size = fields.Integer()")])
        second_edits = [(ORDER_HEAD, ORDER_HEAD + '    VERSION = "1.1"\n')]
        self.lock = locked(second_edits, previous=first)
        self.versions = sample_versions([(ORDER_HEAD, ORDER_HEAD + '    VERSION = "1.2"\n'),
                                         add("size = fields.String()")])

    def test_the_lock_keeps_the_earlier_minor(self) -> None:
        """Locking 1.1 over a lock of 1.0 keeps 1.0 as the major's history."""
        entry = self.lock["mediaTypes"][ORDER]["1"]
        assert_that(entry["version"], is_(equal_to("1.1")))
        assert_that([earlier["version"] for earlier in entry["history"]], is_(equal_to(["1.0"])))
        assert_that(entry["history"][0]["jsonSchema"]["properties"], has_item("size"))

    def test_only_transitive_modes_check_the_history(self) -> None:
        """The type change against 1.0 breaks the transitive modes alone; each break names the version it is against."""
        for mode in NON_TRANSITIVE:
            report = gate.check(self.lock, self.versions, mode)
            assert_that(report.breaks, is_(empty()))
            assert_that([finding.rule for finding in report.findings], is_(equal_to(["optional field added"])))
        for mode in (f"{name}-transitive" for name in NON_TRANSITIVE):
            report = gate.check(self.lock, self.versions, mode)
            assert_that([(finding.version, finding.against, finding.path, finding.rule) for finding in report.breaks],
                        is_(equal_to([("1.2", "1.0", "size", "type changed (integer -> string)")])), mode)
            assert_that(report.findings, has_length(2))

    def test_a_change_under_the_same_version_is_noted(self) -> None:
        """Changing a contract without declaring a new minor is said: the lock would replace it, not keep it."""
        report = gate.check(self.lock, sample_versions([(ORDER_HEAD, ORDER_HEAD + '    VERSION = "1.1"\n'),
                                                        add("note = fields.String()")]), "backward")
        assert_that(report.notes, has_item(contains_string("changed without a new version")))
        assert_that(report.notes, is_not(empty()))
