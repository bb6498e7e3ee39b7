"""UUIDField: a UUID given as text or as `uuid.UUID` loads and dumps as its canonical string."""
from __future__ import annotations

import unittest
from uuid import UUID

from hamcrest import assert_that, calling, equal_to, has_key, is_, raises
from marshmallow import Schema, ValidationError

from microcosm_pubsub.fields import UUIDField


TEXT = "9f1b7c9e-6a0f-4c39-a6a5-3c1f1f2b8d10"


class IdentifiedSchema(Schema):
    id = UUIDField()
    parent_id = UUIDField(allow_none=True)


class UUIDFieldTests(unittest.TestCase):
    def test_load_text(self) -> None:
        """A UUID given as text loads as that text."""
        assert_that(IdentifiedSchema().load({"id": TEXT})["id"], is_(equal_to(TEXT)))

    def test_load_uuid(self) -> None:
        """A `uuid.UUID` loads as its string form."""
        assert_that(IdentifiedSchema().load({"id": UUID(TEXT)})["id"], is_(equal_to(TEXT)))

    def test_load_canonicalises(self) -> None:
        """Upper-case text loads in the canonical lower-case form."""
        assert_that(IdentifiedSchema().load({"id": TEXT.upper()})["id"], is_(equal_to(TEXT)))

    def test_load_invalid(self) -> None:
        """Text that is not a UUID fails validation, naming the field."""
        assert_that(
            calling(IdentifiedSchema().load).with_args({"id": "not-a-uuid"}),
            raises(ValidationError, "Not a valid UUID"),
        )

    def test_load_invalid_type(self) -> None:
        """A number is not a UUID either."""
        try:
            IdentifiedSchema().load({"id": 12})
        except ValidationError as error:
            assert_that(error.messages, has_key("id"))
        else:
            raise AssertionError("a number loaded as a UUID")

    def test_dump_uuid(self) -> None:
        """A `uuid.UUID` dumps as a string, ready for JSON."""
        assert_that(IdentifiedSchema().dump({"id": UUID(TEXT)})["id"], is_(equal_to(TEXT)))

    def test_dump_text(self) -> None:
        """A UUID given as text dumps as that text."""
        assert_that(IdentifiedSchema().dump({"id": TEXT})["id"], is_(equal_to(TEXT)))

    def test_dump_none(self) -> None:
        """None dumps as None."""
        assert_that(IdentifiedSchema().dump({"id": TEXT, "parent_id": None})["parent_id"], is_(None))

    def test_dump_invalid(self) -> None:
        """Dumping text that is not a UUID is refused before it reaches the wire."""
        assert_that(calling(IdentifiedSchema().dump).with_args({"id": "nope"}), raises(ValidationError))
