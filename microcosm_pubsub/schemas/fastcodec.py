"""One cheap pass per message in place of marshmallow's dump + validate (produce) and load (consume).

A `Plan` is worked out once per schema instance, and only for schemas whose every part behaves in a
way the plan reproduces exactly: plain fields of a few exact types, no validators, defaults, hooks or
overridden schema methods (see `build_plan`). Any other schema gets no plan, and `codecs` keeps
calling marshmallow. So does every schema when the installed marshmallow is outside the releases
the plan is tested against (`TESTED_MARSHMALLOW`), or lacks a private name the plan relies on.

Per message the plan takes its fast route only when every value is already what marshmallow would
return unchanged (a `str` for a String, an `int`, not a `bool`, for an Integer...). Anything else (a
wrong type, a missing required key, a None where none is allowed) makes it answer None, and the
caller runs marshmallow for that message: errors are always marshmallow's own.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, ValidationError, fields, missing
from marshmallow.decorators import POST_DUMP, POST_LOAD, PRE_DUMP, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA


# Where a schema instance keeps its plan (or None: no plan); absent until first used
_PLAN_ATTRIBUTE: Final = "_microcosm_pubsub_fastcodec_plan"

# Schema methods a plan stands in for: a class that overrides any of them gets no plan
_SCHEMA_METHODS: Final = (
    "dump", "_serialize", "get_attribute", "load", "validate", "_do_load", "_deserialize", "_call_and_store",
    "_invoke_dump_processors", "_invoke_load_processors", "_invoke_processors", "_invoke_field_validators",
    "_invoke_schema_validators",
)
# Field methods a plan stands in for: set on a field instance, they disqualify it
_FIELD_METHODS: Final = frozenset((
    "serialize", "deserialize", "_serialize", "_deserialize", "get_value", "_validate", "_validate_all",
    "_validate_missing", "_validated", "_format_num", "_to_string", "make_error",
))

# The marshmallow releases test_fastcodec's properties run under (.venv-marshmallow3 and .venv): major ->
# lowest and highest minor. The low end is setup.py's pin; a newer minor may change what the plan skips
TESTED_MARSHMALLOW: Final = {3: (18, 26), 4: (0, 4)}

_ABSENT: Final = object()  # a key not in the message
_NO: Final = object()  # a value the fast route does not take: marshmallow decides

# A value conversion: any value to the value as marshmallow returns it, or _NO when the fast route cannot tell
Convert = Callable[[Any], Any]
# One field: (key in the message, attribute in the content, exact value type that is returned as is when
# there is no conversion, conversion or None, required, allow_none, the attribute is a dict attribute too)
Spec = tuple[str, str, type, Convert | None, bool, bool, bool]
# One field in one direction: (name read, name written, exact type, conversion or None, a miss fails, allow_none)
Route = tuple[str, str, type, Convert | None, bool, bool]


def tested_marshmallow(release: str) -> bool:
    """Whether `release` is a final marshmallow release in the range the plan is tested against."""
    match = re.fullmatch(r"(\d+)\.(\d+)(\.\d+)*", release)
    if match is None:
        return False
    low, high = TESTED_MARSHMALLOW.get(int(match[1]), (1, 0))
    return low <= int(match[2]) <= high


def missing_private_names(
    schema_class: type = Schema, field_classes: Iterable[type] = (fields.Field, fields.Number),
) -> list[str]:
    """The private marshmallow names the plan stands in for or reads that none of these classes has."""
    wanted = (*_SCHEMA_METHODS, "_hooks")
    missing = [name for name in wanted if not hasattr(schema_class, name)]
    classes = tuple(field_classes)
    return missing + sorted(name for name in _FIELD_METHODS if not any(hasattr(cls, name) for cls in classes))


def _installed_release() -> str:
    try:
        return version("marshmallow")
    except PackageNotFoundError:
        return ""


# Decided once per process: the plan is used only where it is tested and its names are all there
ENABLED: Final = tested_marshmallow(_installed_release()) and not missing_private_names()


class Plan:
    """A schema's fields as the fast route reads and writes them, in the schema's field order."""

    __slots__ = ("dump_fields", "dump_routes", "include_unknown", "keys", "load_fields", "load_routes", "post_load",
                 "raise_unknown")

    def __init__(
        self, specs: tuple[Spec, ...], schema: Schema, post_load: str | None,
    ) -> None:
        # Dumping reads attributes and writes keys; a missing attribute that is also a dict attribute (`items`...)
        # is read by marshmallow from the dict itself: left to it. Loading reads keys and writes attributes
        self.dump_routes = tuple((attribute, key, exact, convert, required or shadowed, allow_none)
                                 for key, attribute, exact, convert, required, allow_none, shadowed in specs)
        self.load_routes = tuple((key, attribute, exact, convert, required, allow_none)
                                 for key, attribute, exact, convert, required, allow_none, _ in specs)
        # The bound field dicts the plan was made from: a schema that re-binds its fields falls back
        self.load_fields: Mapping[str, fields.Field[Any]] = schema.load_fields
        self.dump_fields: Mapping[str, fields.Field[Any]] = schema.dump_fields
        unknown = schema.unknown
        self.keys = frozenset(spec[0] for spec in specs)
        self.raise_unknown = unknown == RAISE
        self.include_unknown = unknown == INCLUDE
        self.post_load = post_load

    def dump(self, schema: Schema, content: Any) -> dict[str, Any] | None:
        """`schema.dump(content)` when `schema.validate` of it finds nothing wrong; None to let marshmallow decide."""
        if type(content) is not dict or schema.dump_fields is not self.dump_fields:
            return None
        return _convert(self.dump_routes, content)

    def load(self, schema: Schema, data: Any) -> dict[str, Any] | None:
        """`schema.load(data)` when it loads without error; None to let marshmallow decide (and raise)."""
        if type(data) is not dict or schema.load_fields is not self.load_fields:
            return None
        loaded = _convert(self.load_routes, data)
        if loaded is None:
            return None
        # One loaded value per field present: marshmallow refuses a schema whose fields' attributes collide
        if len(loaded) != len(data):
            if self.raise_unknown:
                return None
            if self.include_unknown:
                for key in set(data) - self.keys:
                    loaded[key] = data[key]
        if self.post_load is None:
            return loaded
        try:
            result: dict[str, Any] = getattr(schema, self.post_load)(loaded, many=False, partial=schema.partial)
        except ValidationError:
            # A refused message is rare: marshmallow's load raises it, through the schema's handle_error
            return None
        return result


def _convert(routes: tuple[Route, ...], data: dict[str, Any]) -> dict[str, Any] | None:
    """Each field's value read under its first name and written under its second; None when one is not for
    the fast route (missing where that fails, None where not allowed, of another type or not convertible)."""
    # One loop for both directions, and no call per field: this is the hottest loop of either
    converted: dict[str, Any] = {}
    get = data.get
    for source, target, exact, convert, required, allow_none in routes:
        value = get(source, _ABSENT)
        if value is _ABSENT:
            if required:
                return None
            continue
        if value is None:
            if not allow_none:
                return None
        elif type(value) is not exact or convert is not None:
            if convert is None:
                return None
            value = convert(value)
            if value is _NO:
                return None
        converted[target] = value
    return converted


def plan_for(schema: Schema, trusted_post_load: Collection[Callable[..., Any]] = ()) -> Plan | None:
    """The schema instance's plan, worked out on first use; None when it does not qualify or not `ENABLED`.

    :param trusted_post_load: post-load hook functions whose effect does not depend on how the data
        was loaded (the media-type hook of `PubSubMessageSchema`); a schema with any other hook gets no plan
    """
    try:
        plan: Plan | None = schema.__dict__[_PLAN_ATTRIBUTE]
        return plan
    except KeyError:
        pass
    try:
        plan = build_plan(schema, trusted_post_load) if ENABLED else None
    except Exception:  # a schema the checks cannot even inspect keeps marshmallow's path
        plan = None
    schema.__dict__[_PLAN_ATTRIBUTE] = plan
    return plan


def build_plan(schema: Schema, trusted_post_load: Collection[Callable[..., Any]] = ()) -> Plan | None:
    """A plan for `schema`, or None when any part of it behaves in a way the plan does not reproduce."""
    cls = type(schema)
    if any(getattr(cls, name) is not getattr(Schema, name) or name in schema.__dict__ for name in _SCHEMA_METHODS):
        return None
    if schema.dict_class is not dict or schema.many or not (schema.partial is None or schema.partial is False):
        return None
    if schema.unknown not in (EXCLUDE, INCLUDE, RAISE):
        return None
    post_load = _post_load_hook(schema, trusted_post_load)
    if isinstance(post_load, bool):
        return None
    field_dict = schema.fields
    names = list(field_dict)
    # Loading and dumping the same fields in the same order: no load_only or dump_only fields
    if list(schema.load_fields) != names or list(schema.dump_fields) != names:
        return None
    specs: list[Spec] = []
    for name, field in field_dict.items():
        if schema.load_fields[name] is not field or schema.dump_fields[name] is not field:
            return None
        spec = _field_spec(name, field)
        if spec is None:
            return None
        specs.append(spec)
    return Plan(tuple(specs), schema, post_load)


def _post_load_hook(schema: Schema, trusted: Collection[Callable[..., Any]]) -> str | bool | None:
    """The name of the schema's one trusted post-load hook, None when it has none, False when it has others."""
    hooks = schema._hooks
    if any(hooks.get(tag) for tag in (PRE_DUMP, POST_DUMP, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA)):
        return False
    post_load = hooks.get(POST_LOAD) or []
    if not post_load:
        return None
    if len(post_load) != 1:
        return False
    name, pass_collection, options = post_load[0]
    function = getattr(type(schema), name, None)
    if pass_collection or options.get("pass_original") or name in schema.__dict__ or function not in trusted:
        return False
    return str(name)


def _field_spec(name: str, field: fields.Field[Any]) -> Spec | None:
    """How the plan reads and writes one field, or None when the field is not one it reproduces."""
    attribute = field.attribute or name
    # marshmallow reads and writes a dotted attribute as a path into nested objects; an empty one it
    # reads from "" when dumping but writes under the field's name when loading
    if "." in attribute or field.attribute == "" or not _plain(field):
        return None
    if field.load_default is not missing or field.dump_default is not missing:
        return None
    kind = _value_kind(field)
    if kind is None:
        return None
    exact, convert = kind
    key = field.data_key if field.data_key is not None else name
    return (key, attribute, exact, convert, bool(field.required), bool(field.allow_none), hasattr({}, attribute))


def _plain(field: fields.Field[Any]) -> bool:
    """No validators, no per-field pre/post-load functions (marshmallow 4.3+), no methods set on the instance."""
    return (
        not field.validators
        and not getattr(field, "pre_load", None)
        and not getattr(field, "post_load", None)
        and not (_FIELD_METHODS & field.__dict__.keys())
    )


def _value_kind(field: fields.Field[Any], inner: bool = False) -> tuple[type, Convert | None] | None:
    """The exact type a value of the field must have to go the fast route, and its conversion; None: no fast route.

    Exact field types only: a subclass (`Email`, a service's own field) may do anything in its methods.
    `inner`: the items of a List, which the plan takes only of the four scalar kinds.
    """
    if type(field) not in (_SCALARS if inner else _KINDS):
        return None
    # as_string dumps text that a load must parse back: left to marshmallow
    if isinstance(field, fields.String):
        return str, None
    if isinstance(field, fields.Integer):
        return None if field.as_string else (int, None)
    if isinstance(field, fields.Float):
        return None if field.as_string else (float, _float_or_int if field.allow_nan else _finite_float_or_int)
    if isinstance(field, fields.Boolean):
        # Dumped (marshmallow 3 maps through these sets) and loaded, True stays True and False stays False
        truthy, falsy = field.truthy, field.falsy
        keeps = True not in falsy and False not in truthy and (not truthy or (True in truthy and False in falsy))
        return (bool, None) if keeps else None
    if isinstance(field, fields.Dict) and field.value_field is None:
        keys = field.key_field
        if keys is None:
            return dict, _dict
        return (dict, _dict_with_text_keys) if type(keys) is fields.String and _plain(keys) else None
    if isinstance(field, fields.List) and _plain(field.inner):
        items = _value_kind(field.inner, inner=True)
        return (list, _list_of(*items)) if items is not None else None
    return None


_SCALARS: Final = frozenset((fields.String, fields.Integer, fields.Float, fields.Boolean))
_KINDS: Final = _SCALARS | {fields.Dict, fields.List}


def _float_or_int(value: Any) -> Any:
    """A Float's value both ways: a float as it is, an int as `float()` makes it (an overflow is marshmallow's)."""
    if type(value) is float:
        return value
    if type(value) is not int:
        return _NO
    try:
        return float(value)
    except OverflowError:
        return _NO


def _finite_float_or_int(value: Any) -> Any:
    """As `_float_or_int`, where nan and infinity are errors (marshmallow's `allow_nan=False`)."""
    value = _float_or_int(value)
    return value if value is _NO or math.isfinite(value) else _NO


def _dict(value: Any) -> Any:
    return dict(value) if type(value) is dict else _NO


def _dict_with_text_keys(value: Any) -> Any:
    if type(value) is not dict:
        return _NO
    # A loop, not all() over a generator: this runs for every message's opaque data
    for key in value:
        if type(key) is not str:
            return _NO
    return dict(value)


def _list_of(exact: type, convert: Convert | None) -> Convert:
    """Conversion of a list whose items are each of `exact` type, or pass `convert`."""
    def as_list(value: Any) -> Any:
        if type(value) is not list:
            return _NO
        if convert is None:
            for item in value:
                if type(item) is not exact:
                    return _NO
            return list(value)
        items = [convert(item) for item in value]
        return _NO if _NO in items else items
    return as_list
