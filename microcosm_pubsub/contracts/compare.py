"""What changed between two contracts of a message, and whether each change breaks its readers, in each direction."""
from __future__ import annotations

import json
from typing import Any, NamedTuple

from microcosm_pubsub.contracts.jsonschema import Contract, child


BACKWARD = "backward"
FORWARD = "forward"
DIRECTIONS = (BACKWARD, FORWARD)

# BACKWARD asks whether consumers on the new schema read what the old one wrote; FORWARD whether consumers on the
# old schema read what the new one writes. A writer dumps only the fields it declares, and its required fields
# are always there; a reader refuses a missing required field, a value its field or validators refuse, and, under
# a closed model (marshmallow's `unknown=RAISE`), a key it does not declare. Open models (EXCLUDE, INCLUDE) ignore
# unknown keys. Who reads whom in each direction, as reports name it:
READERS = {BACKWARD: "new consumers read old messages", FORWARD: "old consumers read new messages"}


class Effect(NamedTuple):
    """What a change does to the readers of one direction."""

    breaks: bool
    why: str


class Change(NamedTuple):
    """One difference between the old and the new contract at a field path ("" is the message itself)."""

    path: str
    rule: str
    backward: Effect
    forward: Effect

    def effect(self, direction: str) -> Effect:
        return self.backward if direction == BACKWARD else self.forward


def safe(why: str) -> Effect:
    return Effect(False, why)


def broken(why: str) -> Effect:
    return Effect(True, why)


class _Side:
    """One contract, read by path."""

    def __init__(self, contract: Contract) -> None:
        self.objects = contract["objects"]
        self.fields = contract["fields"]

    def closed(self, path: str, node: dict[str, Any]) -> bool:
        known = self.objects.get(path)
        if known is not None:
            return bool(known.get("unknown") == "raise")
        return node.get("additionalProperties") is False

    def attribute(self, path: str) -> str | None:
        found = self.fields.get(path, {}).get("attribute")
        return found if isinstance(found, str) else None


def diff(old: Contract, new: Contract) -> list[Change]:
    """Every change from `old` to `new` a reader could notice, with its effect in each direction."""
    return _Diff(_Side(old), _Side(new)).node(old["jsonSchema"], new["jsonSchema"], "")


def without_null(node: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A field's schema without its null alternative, and whether it had one (allow_none)."""
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        [inner] = [option for option in options if option != {"type": "null"}]
        return inner, True
    kind = node.get("type")
    if isinstance(kind, list) and "null" in kind:
        rest = [item for item in kind if item != "null"]
        return {**node, "type": rest[0] if len(rest) == 1 else rest}, True
    return node, False


def types(node: dict[str, Any]) -> frozenset[str] | None:
    """The JSON types a schema accepts (an enum's or constant's values tell when it names none); None for any."""
    kind = node.get("type")
    if kind is not None:
        return frozenset([kind] if isinstance(kind, str) else kind)
    values = node["enum"] if isinstance(node.get("enum"), list) else [node["const"]] if "const" in node else None
    return None if values is None else frozenset(json_type(value) for value in values)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array")):
        if isinstance(value, kind):
            return name
    return "object"


def accepts(reader: frozenset[str] | None, writer: frozenset[str] | None) -> bool:
    """Whether a reader of `reader` types accepts every value of `writer` types (an integer is a number)."""
    if reader is None:
        return True
    if writer is None:
        return False
    return all(kind in reader or (kind == "integer" and "number" in reader) for kind in writer)


def shape(node: dict[str, Any]) -> str | None:
    """What an object or array holds, as far as its schema says: None when it says nothing (any)."""
    if "properties" in node:
        return "object with fields"
    if isinstance(node.get("additionalProperties"), dict):
        return "map"
    if "prefixItems" in node:
        return "tuple"
    if isinstance(node.get("items"), dict):
        return "list"
    return None


def shown(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def kind_of(node: dict[str, Any]) -> str:
    found = types(node)
    name = "any" if found is None else "|".join(sorted(found))
    return f"{name}/{node['format']}" if "format" in node else name


def tightened(path: str, what: str) -> Change:
    """The new schema accepts less than the old: new consumers may refuse old messages."""
    return Change(path, f"validator tightened ({what})",
                  broken("some that passed the old validator fail the new one"),
                  safe("new producers send only values the old validator accepts"))


def loosened(path: str, what: str) -> Change:
    """The new schema accepts more than the old: old consumers may refuse new messages."""
    return Change(path, f"validator loosened ({what})",
                  safe("the new validator accepts everything the old one did"),
                  broken("new producers may send values the old validator refuses"))


def changed(path: str, rule: str) -> Change:
    return Change(path, rule, broken("values old producers sent do not fit the new schema"),
                  broken("values new producers send do not fit the old schema"))


def bound(node: dict[str, Any], inclusive: str, exclusive: str) -> tuple[float, bool] | None:
    """A numeric bound as (value, exclusive), or None when there is none (a minimum length of 0 is none)."""
    if isinstance(node.get(exclusive), (int, float)):
        return float(node[exclusive]), True
    value = node.get(inclusive)
    if isinstance(value, (int, float)) and not (inclusive in ("minLength", "minItems") and value == 0):
        return float(value), False
    return None


def lower_is_tighter(old: tuple[float, bool] | None, new: tuple[float, bool] | None) -> bool | None:
    """Whether a new lower bound refuses more (True), less (False) than the old, or the same (None)."""
    if old == new:
        return None
    if old is None:
        return True
    if new is None:
        return False
    return new[0] > old[0] or (new[0] == old[0] and new[1])


class _Diff:
    def __init__(self, old: _Side, new: _Side) -> None:
        self.old = old
        self.new = new

    def node(self, old: dict[str, Any], new: dict[str, Any], path: str) -> list[Change]:
        old_base, old_null = without_null(old)
        new_base, new_null = without_null(new)
        changes = []
        if old_null and not new_null:
            changes.append(Change(path, "nullable removed",
                                  broken("old producers may send null, which the new one refuses"),
                                  safe("new producers never send null")))
        elif new_null and not old_null:
            changes.append(Change(path, "nullable added",
                                  safe("the new schema accepts null and every old value"),
                                  broken("new producers may send null, which the old one refuses")))
        typed = self.kind(old_base, new_base, path)
        if typed is not None:
            return [*changes, typed]  # values of another type: what is inside them no longer compares
        return changes + self.values(old_base, new_base, path) + self.structure(old_base, new_base, path)

    def kind(self, old: dict[str, Any], new: dict[str, Any], path: str) -> Change | None:
        """A change of JSON type or format, widened (the new accepts all the old did), narrowed, or changed."""
        old_types, new_types = types(old), types(new)
        old_format, new_format = old.get("format"), new.get("format")
        wider = accepts(new_types, old_types) and (new_format is None or new_format == old_format)
        narrower = accepts(old_types, new_types) and (old_format is None or old_format == new_format)
        if wider and narrower:
            return None
        noun = "list item type" if path.endswith("]") else "type"
        what = f"{kind_of(old)} -> {kind_of(new)}"
        if wider:
            return Change(path, f"{noun} widened ({what})",
                          safe("the new type accepts every old value"),
                          broken("new producers may send values of the wider type"))
        if narrower:
            return Change(path, f"{noun} narrowed ({what})",
                          broken("old values of the wider type are refused"),
                          safe("new values are of the narrower type, which the old accepts"))
        return changed(path, f"{noun} changed ({what})")

    def values(self, old: dict[str, Any], new: dict[str, Any], path: str) -> list[Change]:
        """Constants, enums, lengths, ranges and patterns: what the validators let through."""
        changes = []
        if old.get("const") != new.get("const") or ("const" in old) != ("const" in new):
            if "const" not in old:
                changes.append(tightened(path, f"constant {shown(new['const'])}"))
            elif "const" not in new:
                changes.append(loosened(path, f"constant {shown(old['const'])} dropped"))
            else:
                changes.append(changed(path, f"constant changed ({shown(old['const'])} -> {shown(new['const'])})"))
        changes += self.enum(old, new, path)
        for low, high, noun in (("minLength", "maxLength", "length"), ("minItems", "maxItems", "items")):
            changes += self.bounds(old, new, path, (low, ""), (high, ""), noun)
        changes += self.bounds(old, new, path, ("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum"),
                               "range")
        old_pattern, new_pattern = old.get("pattern"), new.get("pattern")
        if old_pattern != new_pattern:
            if old_pattern is None:
                changes.append(tightened(path, f"pattern {new_pattern!r} added"))
            elif new_pattern is None:
                changes.append(loosened(path, f"pattern {old_pattern!r} dropped"))
            else:
                # Which of two regular expressions accepts more is not decidable here: both directions may break
                changes.append(changed(path, f"validator changed (pattern {old_pattern!r} -> {new_pattern!r})"))
        return changes

    def enum(self, old: dict[str, Any], new: dict[str, Any], path: str) -> list[Change]:
        if "enum" not in old and "enum" not in new:
            return []
        if "enum" not in old:
            return [tightened(path, f"values limited to {shown(new['enum'])}")]
        if "enum" not in new:
            return [loosened(path, f"value list {shown(old['enum'])} dropped")]
        old_values = {shown(value): value for value in old["enum"]}
        new_values = {shown(value): value for value in new["enum"]}
        changes = []
        removed = [key for key in old_values if key not in new_values]
        added = [key for key in new_values if key not in old_values]
        if removed:
            changes.append(Change(path, f"enum value removed ({', '.join(removed)})",
                                  broken("old producers may still send the removed value"),
                                  safe("new producers send only values the old schema knows")))
        if added:
            changes.append(Change(path, f"enum value added ({', '.join(added)})",
                                  safe("every old value is still accepted"),
                                  broken("new producers may send a value the old schema refuses")))
        return changes

    def bounds(self, old: dict[str, Any], new: dict[str, Any], path: str, low: tuple[str, str],
               high: tuple[str, str], noun: str) -> list[Change]:
        changes = []
        old_low, new_low = bound(old, *low), bound(new, *low)
        tighter = lower_is_tighter(old_low, new_low)
        if tighter is not None:
            what = f"minimum {noun} {describe_bound(old_low)} -> {describe_bound(new_low)}"
            changes.append(tightened(path, what) if tighter else loosened(path, what))
        old_high, new_high = bound(old, *high), bound(new, *high)
        tighter = lower_is_tighter(negated(old_high), negated(new_high))
        if tighter is not None:
            what = f"maximum {noun} {describe_bound(old_high)} -> {describe_bound(new_high)}"
            changes.append(tightened(path, what) if tighter else loosened(path, what))
        return changes

    def structure(self, old: dict[str, Any], new: dict[str, Any], path: str) -> list[Change]:
        """What the values hold: list items, tuple members, map values, an object's fields."""
        old_shape, new_shape = shape(old), shape(new)
        if old_shape != new_shape:
            what = f"{old_shape or 'any ' + kind_of(old)} -> {new_shape or 'any ' + kind_of(new)}"
            if old_shape is None:
                return [Change(path, f"type narrowed ({what})",
                               broken("old values of any shape are refused unless they fit the new one"),
                               safe("new values are of one shape, which the old accepts"))]
            if new_shape is None:
                return [Change(path, f"type widened ({what})", safe("the new schema accepts any shape"),
                               broken("new producers may send values the old shape refuses"))]
            return [changed(path, f"type changed ({what})")]
        changes = []
        if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
            changes += self.node(old["items"], new["items"], f"{path}[]")
        old_members, new_members = old.get("prefixItems"), new.get("prefixItems")
        if isinstance(old_members, list) and isinstance(new_members, list):
            for index, (old_member, new_member) in enumerate(zip(old_members, new_members, strict=False)):
                changes += self.node(old_member, new_member, f"{path}[{index}]")
        if "properties" in old and "properties" in new:
            changes += self.object(old, new, path)
        elif isinstance(old.get("additionalProperties"), dict) and isinstance(new.get("additionalProperties"), dict):
            changes += self.node(old["additionalProperties"], new["additionalProperties"], f"{path}{{}}")
        return changes

    def object(self, old: dict[str, Any], new: dict[str, Any], path: str) -> list[Change]:
        old_fields: dict[str, Any] = old["properties"]
        new_fields: dict[str, Any] = new["properties"]
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        old_closed, new_closed = self.old.closed(path, old), self.new.closed(path, new)
        changes = []
        if old_closed != new_closed:
            # Closing alone refuses nothing an old producer sent: its fields are checked one by one below
            state = "closed (unknown=RAISE)" if new_closed else "open (unknown=EXCLUDE/INCLUDE)"
            changes.append(Change(path, f"model made {state}",
                                  safe("the fields each side sends are compared one by one"),
                                  safe("the fields each side sends are compared one by one")))
        removed = sorted(set(old_fields) - set(new_fields))
        added = sorted(set(new_fields) - set(old_fields))
        renamed = {
            key: other for key in removed for other in added
            if self.old.attribute(child(path, key)) is not None
            and self.old.attribute(child(path, key)) == self.new.attribute(child(path, other))
        }
        for key, other in sorted(renamed.items()):
            changes.append(Change(
                child(path, other), f"data key renamed ({key} -> {other}, attribute "
                f"{self.old.attribute(child(path, key))})",
                broken(f"old producers send the value as {key}, which the new schema does not read"),
                broken(f"new producers send the value as {other}, which the old schema does not "
                       "read"),
            ))
        for key in removed:
            if key not in renamed:
                changes.append(self.removed(child(path, key), key in old_required, new_closed))
        for key in added:
            if key not in renamed.values():
                changes.append(self.added(child(path, key), key in new_required, old_closed))
        for key in sorted(set(old_fields) & set(new_fields)):
            where = child(path, key)
            if key in new_required and key not in old_required:
                changes.append(Change(where, "field made required",
                                      broken("old producers may leave it out"),
                                      safe("new producers always send it")))
            elif key in old_required and key not in new_required:
                changes.append(Change(where, "field made optional",
                                      safe("the new schema no longer needs it"),
                                      broken("new producers may leave out a field the old "
                                             "schema requires")))
            changes += self.node(old_fields[key], new_fields[key], where)
        return changes

    def removed(self, path: str, required: bool, new_closed: bool) -> Change:
        if new_closed:
            backward = broken("old producers still send it, and the new closed model "
                              "(unknown=RAISE) refuses keys it does not declare")
        else:
            backward = safe("the new open model ignores it")
        if required:
            forward = broken("new producers no longer send a field the old schema requires")
        else:
            forward = safe("it was optional there")
        rule = "required field removed" if required else "field removed"
        return Change(path, f"{rule} under a closed model" if new_closed else rule, backward, forward)

    def added(self, path: str, required: bool, old_closed: bool) -> Change:
        if required:
            backward = broken("old producers never sent it, and the new schema requires it")
        else:
            backward = safe("it is optional, so old messages without it load")
        if old_closed:
            forward = broken("new producers send it, and the old closed model (unknown=RAISE) "
                             "refuses keys it does not declare")
        else:
            forward = safe("the old open model ignores it")
        rule = "field added as required" if required else "optional field added"
        return Change(path, f"{rule} under a closed model" if old_closed else rule, backward, forward)


def negated(found: tuple[float, bool] | None) -> tuple[float, bool] | None:
    """An upper bound as a lower bound of the negated values, so one comparison serves both."""
    return None if found is None else (-found[0], found[1])


def describe_bound(found: tuple[float, bool] | None) -> str:
    if found is None:
        return "none"
    value = int(found[0]) if found[0].is_integer() else found[0]
    return f"{value} (exclusive)" if found[1] else str(value)
