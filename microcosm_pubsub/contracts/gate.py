"""The compatibility gate: today's schemas against a lock, in one of the schema registry's compatibility modes."""
from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from microcosm_pubsub.contracts.compare import BACKWARD, FORWARD, READERS, diff
from microcosm_pubsub.contracts.lock import Entry, Lock, as_contract, entry_of, major, same_contract, version_key
from microcosm_pubsub.schemas.versions import SchemaVersion


# Which readers each mode protects; the transitive forms check every version the lock keeps of a major
MODES: dict[str, tuple[str, ...]] = {
    "backward": (BACKWARD,),
    "forward": (FORWARD,),
    "full": (BACKWARD, FORWARD),
}
MODES.update({f"{name}-transitive": directions for name, directions in list(MODES.items())})
DEFAULT_MODE = "backward"
MESSAGE = "(message)"


class Finding(NamedTuple):
    """One thing `check` has to say: a change against a locked version, breaking or safe, and why."""

    media_type: str
    version: str
    against: str | None
    path: str
    rule: str
    breaks: bool
    why: str

    def line(self) -> str:
        label = "BREAK" if self.breaks else "safe "
        against = f" (against {self.against})" if self.against else ""
        return f"{label} {self.media_type} {self.version}{against} {self.path or MESSAGE}: {self.rule} -- {self.why}"


class Report(NamedTuple):
    mode: str
    findings: list[Finding]
    notes: list[str]
    # The schema versions compared with the lock
    checked: int

    @property
    def breaks(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.breaks]

    def lines(self) -> list[str]:
        """What `pubsub schemas check` prints: breaks first, then safe changes, notes, and a count."""
        ordered = sorted(self.findings, key=lambda finding: not finding.breaks)
        breaking, total = len(self.breaks), len(self.findings)
        summary = (f"{breaking} breaking change{'' if breaking == 1 else 's'}, {total - breaking} safe "
                   f"change{'' if total - breaking == 1 else 's'} ({self.mode}, {self.checked} schema "
                   f"version{'' if self.checked == 1 else 's'} checked)")
        return [*(finding.line() for finding in ordered), *(f"note  {note}" for note in self.notes), summary]


def check(lock: Lock, versions: Iterable[SchemaVersion], mode: str = DEFAULT_MODE,
          allow_removed_major: bool = False) -> Report:
    """Every change from `lock` to `versions` and whether it breaks the readers `mode` protects."""
    if mode not in MODES:
        raise ValueError(f"unknown compatibility mode {mode!r}; one of {', '.join(MODES)}")
    directions = MODES[mode]
    transitive = mode.endswith("-transitive")
    locked: dict[str, dict[str, Entry]] = lock["mediaTypes"]
    findings: list[Finding] = []
    notes: list[str] = []
    current: dict[str, set[str]] = {}
    checked = 0
    for version in versions:
        checked += 1
        entry = entry_of(version)
        key = major(version.version)
        current.setdefault(version.media_type, set()).add(key)
        before = locked.get(version.media_type, {}).get(key)
        if before is None:
            findings.append(unlocked(version, locked))
            continue
        if version_key(version.version) < version_key(before["version"]):
            notes.append(f"{version.media_type} {version.version} is older than the locked {before['version']}")
        elif version.version == before["version"] and not same_contract(before, entry):
            notes.append(f"{version.media_type} {version.version} changed without a new version: declare the next "
                         "minor before locking it, so the lock keeps this one in history for transitive checks")
        targets = [before, *reversed(before.get("history", []))] if transitive else [before]
        for target in targets:
            for change in diff(as_contract(target), as_contract(entry)):
                effects = [(direction, change.effect(direction)) for direction in directions]
                breaks = any(effect.breaks for _, effect in effects)
                why = "; ".join(f"{direction} ({READERS[direction]}): {effect.why}" for direction, effect in effects
                                if effect.breaks or not breaks)
                findings.append(Finding(version.media_type, version.version, target["version"], change.path,
                                        change.rule, breaks, why))
    for media_type, majors in sorted(locked.items()):
        for key, entry in sorted(majors.items()):
            if key not in current.get(media_type, set()):
                findings.append(removed(media_type, key, entry, media_type in current, allow_removed_major))
    return Report(mode, findings, notes, checked)


def unlocked(version: SchemaVersion, locked: dict[str, dict[str, Entry]]) -> Finding:
    """A media type, or a major of one, that the lock does not have: a new contract, with no reader to break."""
    known = locked.get(version.media_type)
    if known is None:
        return Finding(version.media_type, version.version, None, "", "new media type", False,
                       "no consumer has a contract for it yet; `pubsub schemas lock` records it")
    majors = ", ".join(sorted(known, key=int))
    return Finding(version.media_type, version.version, None, "", "new major version", False,
                   f"a new major is a new contract that consumers opt in to; it need not read or be read by "
                   f"major {majors}, which the lock keeps checking")


def removed(media_type: str, key: str, entry: Entry, media_type_kept: bool, allowed: bool) -> Finding:
    rule = "major version removed" if media_type_kept else "media type removed"
    if allowed:
        why = "allowed by --allow-removed-major"
    else:
        why = (f"consumers of major {key} lose their messages, and messages of it still queued or sent by "
               "producers not yet moved find no schema here; pass --allow-removed-major once every peer has moved")
    return Finding(media_type, entry["version"], None, "", rule, not allowed, why)
