"""`Opened` and `Delivery`: their hand-written constructors keep every dataclass field, with its default."""
from __future__ import annotations

import inspect
import time
import unittest
from dataclasses import MISSING, FrozenInstanceError, fields, replace
from typing import Any

from hamcrest import assert_that, calling, equal_to, is_, not_, raises, same_instance

from microcosm_pubsub.wire.received import Delivery, Opened


REQUIRED: dict[type, dict[str, Any]] = {
    Opened: {"media_type": "application/vnd.test", "content": {"a": 1}, "message_id": "m-1"},
    Delivery: {"sqs_message_id": "s-1", "receipt_handle": "r-1", "approximate_receive_count": 1},
}


def default_of(field: Any) -> Any:
    return field.default_factory() if field.default_factory is not MISSING else field.default


class ReceivedRecordsTest(unittest.TestCase):

    def test_constructor_takes_the_fields_in_order(self):
        """Each class's constructor takes exactly its dataclass fields, in declaration order."""
        for kind in (Opened, Delivery):
            parameters = list(inspect.signature(kind.__init__).parameters)[1:]
            assert_that(parameters, equal_to([field.name for field in fields(kind)]), kind.__name__)

    def test_omitted_fields_take_the_declared_defaults(self):
        """Built from its required fields only, every other field has the default its dataclass declares."""
        for kind in (Opened, Delivery):
            built = kind(**REQUIRED[kind])
            for field in fields(kind):
                if field.name in REQUIRED[kind] or field.name == "received_at":
                    continue
                assert_that(getattr(built, field.name), equal_to(default_of(field)), f"{kind.__name__}.{field.name}")

    def test_defaulted_mappings_are_not_shared(self):
        """Two records built without attributes do not share one mapping."""
        first, second = Opened(**REQUIRED[Opened]), Opened(**REQUIRED[Opened])
        assert_that(first.opaque_data, is_(not_(same_instance(second.opaque_data))))
        assert_that(Delivery(**REQUIRED[Delivery]).attributes, is_(not_(same_instance(
            Delivery(**REQUIRED[Delivery]).attributes,
        ))))

    def test_records_stay_frozen_and_replaceable(self):
        """Fields cannot be set after construction; `replace` builds a copy with one field changed."""
        opened = Opened(**REQUIRED[Opened], problem="bad")
        assert_that(calling(setattr).with_args(opened, "problem", None), raises(FrozenInstanceError))
        assert_that(replace(opened, problem=None), equal_to(Opened(**REQUIRED[Opened])))

    def test_delivery_is_stamped_when_received(self):
        """A delivery built without `received_at` is stamped with the time it was built; a given one is kept."""
        before = time.time()
        delivery = Delivery(**REQUIRED[Delivery])
        after = time.time()
        assert_that(before <= delivery.received_at <= after, is_(True), f"{before} {delivery.received_at} {after}")
        assert_that(Delivery(**REQUIRED[Delivery], received_at=12.5).received_at, equal_to(12.5))
