"""Reporting one handler error to Sentry in a scope of its own: shared by the Sentry middleware and the old result API.

Imports sentry-sdk (the `sentry` extra) only when called; depends on nothing else of this package.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def capture(error: BaseException, tags: Mapping[str, str], user_id: str | None = None, client: Any = None) -> None:
    """Report `error` in a scope of its own, with these tags and user id; to `client`, else the global one."""
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        if client is not None:
            scope.set_client(client)
        for name, value in tags.items():
            scope.set_tag(name, value)
        if user_id is not None:
            scope.set_user({"id": user_id})
        scope.capture_exception(error)
