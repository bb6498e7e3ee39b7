"""Kept for services written for the old package: `CaseStatement(switch, value)`, a case awaiting `.then(...)`."""
from __future__ import annotations

from typing import Any

from microcosm_pubsub.chain.statements.branch import PendingBranch
from microcosm_pubsub.chain.statements.switch import SwitchStatement


class CaseStatement(PendingBranch[SwitchStatement]):
    """What `switch(key).case(value)` returns, built by hand: `.then(...)` adds the case and returns the switch."""

    def __init__(self, switch: SwitchStatement, key: Any) -> None:
        super().__init__(switch, key, f"case({key!r})")
