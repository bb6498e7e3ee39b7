"""The handler's opaque scope: the direct path behaves exactly as microcosm's own `opaque.initialize`."""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any
from unittest import TestCase

from hamcrest import assert_that, calling, equal_to, is_, raises
from microcosm.api import create_object_graph
from microcosm.opaque import Opaque

from microcosm_pubsub.consume.opaque_scope import OpaqueScope


Scope = Callable[[Mapping[str, Any]], AbstractContextManager[None]]


def public(opaque: Opaque) -> Scope:
    """microcosm's own path, as the dispatcher used it before."""
    return lambda values: opaque.initialize(lambda: values)


def direct(opaque: Opaque) -> Scope:
    """Ours, as the dispatcher uses it: values normalized when the message is prepared, set around the call."""
    scope = OpaqueScope(opaque)
    return lambda values: scope(scope.normalized(values))


class TestOpaqueScope(TestCase):
    """Every check runs on the direct path and on microcosm's `initialize`, and compares the two."""

    def both(self, check: Callable[[Opaque, Scope], Any], **base: Any) -> Any:
        direct_opaque, public_opaque = Opaque(base), Opaque(base)
        ours = check(direct_opaque, direct(direct_opaque))
        expected = check(public_opaque, public(public_opaque))
        assert_that(ours, equal_to(expected))
        return ours

    def test_direct_path_is_chosen_for_microcosms_opaque(self) -> None:
        """The graph's own `opaque` takes the direct path (else the speed-up silently goes away)."""
        graph = create_object_graph("scope", testing=True)
        assert_that(OpaqueScope(graph.opaque).direct, is_(True))

    def test_other_opaque_uses_its_initialize(self) -> None:
        """An opaque that is not microcosm's own Opaque is entered through its own `initialize`."""
        class Custom(Opaque):
            """A service's own opaque type."""

        opaque = Custom()
        scope = OpaqueScope(opaque)
        with scope(scope.normalized({"A": "1"})):
            seen = dict(opaque.as_dict())
        assert_that((seen, scope.direct), equal_to(({"a": "1"}, False)))

    def test_values_inside_and_restored_after(self) -> None:
        """Inside, the base values and the scope's (keys case-folded) are visible; after, the base alone."""
        def check(opaque: Opaque, scope: Scope) -> Any:
            with scope({"Message_ID": "m1", "x-request-ttl": "31", "Straße": "x"}):
                inside = dict(opaque.as_dict()), opaque["MESSAGE_ID"], "strasse" in opaque
            return inside, dict(opaque.as_dict())

        inside, after = self.both(check, service="svc")
        assert_that(inside[0], equal_to({"service": "svc", "message_id": "m1", "x-request-ttl": "31", "strasse": "x"}))
        assert_that(after, equal_to({"service": "svc"}))

    def test_scope_value_wins_over_base(self) -> None:
        """A key in both the base and the scope has the scope's value inside."""
        def check(opaque: Opaque, scope: Scope) -> Any:
            with scope({"Service": "other"}):
                return dict(opaque.as_dict())

        assert_that(self.both(check, service="svc"), equal_to({"service": "other"}))

    def test_restored_after_an_exception(self) -> None:
        """A handler that raises leaves the opaque as it was before the scope."""
        def check(opaque: Opaque, scope: Scope) -> Any:
            def fail() -> None:
                with scope({"a": "1"}):
                    raise RuntimeError("handler failed")
            assert_that(calling(fail), raises(RuntimeError))
            return dict(opaque.as_dict())

        assert_that(self.both(check, base="b"), equal_to({"base": "b"}))

    def test_nested_scopes(self) -> None:
        """A scope inside a scope sees both; leaving the inner one restores the outer one's values."""
        def check(opaque: Opaque, scope: Scope) -> Any:
            with scope({"a": "1"}):
                with scope({"b": "2", "a": "3"}):
                    inner = dict(opaque.as_dict())
                outer = dict(opaque.as_dict())
            return inner, outer

        assert_that(self.both(check), equal_to(({"a": "3", "b": "2"}, {"a": "1"})))

    def test_writes_inside_do_not_leak(self) -> None:
        """What a handler writes into the opaque, nested values included, is gone after the scope."""
        def check(opaque: Opaque, scope: Scope) -> Any:
            with scope({"a": "1"}):
                opaque["written"] = "w"
                opaque["nested"]["inner"] = "changed"
            return dict(opaque.as_dict())

        after = self.both(check, nested={"inner": "original"})
        assert_that(after, equal_to({"nested": {"inner": "original"}}))

    def test_threads_do_not_see_each_other(self) -> None:
        """Two handler threads in scopes at the same time each see only their own values."""
        def check(opaque: Opaque, scope: Scope) -> Any:
            seen: dict[str, dict[str, Any]] = {}
            both_inside = threading.Barrier(2)

            def handler(name: str) -> None:
                with scope({"message_id": name}):
                    both_inside.wait(timeout=5)
                    seen[name] = dict(opaque.as_dict())

            threads = [threading.Thread(target=handler, args=(name,)) for name in ("m1", "m2")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=5)
            return seen

        assert_that(self.both(check), equal_to({"m1": {"message_id": "m1"}, "m2": {"message_id": "m2"}}))
