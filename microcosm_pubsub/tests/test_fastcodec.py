"""The fast codec path: exactly marshmallow's results (dump + validate, load), and marshmallow itself when unsure."""
from __future__ import annotations

import json
import unittest
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from hamcrest import assert_that, empty, equal_to, has_items, is_, is_not, none, same_instance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import (
    EXCLUDE,
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_dump,
    post_load,
    pre_dump,
    pre_load,
    validates,
    validates_schema,
)
from marshmallow import validate as validators

from microcosm_pubsub.schemas.codecs import TRUSTED_POST_LOAD, PubSubMessageCodec, PubSubMessageSchema, decode, dump
from microcosm_pubsub.schemas.fastcodec import (
    _PLAN_ATTRIBUTE,
    ENABLED,
    Plan,
    missing_private_names,
    plan_for,
    tested_marshmallow,
)


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow],
)
ABSENT = object()  # a field left out of the content or message
Values = dict[str, st.SearchStrategy[Any]]  # a strategy of typical values per field name


class Text(str):
    """A str subclass: marshmallow may keep it, the plan must not answer for it."""


# Values of every kind JSON and a producer's code give
ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | st.binary(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=3),
    max_leaves=6,
)
NAN, INFINITY = float("nan"), float("inf")
# Per kind, values near the typical ones that marshmallow converts or refuses, each tried in a typical message
EDGES: dict[str, list[Any]] = {
    "String": [Text("t"), 7, 1.5, b"x"],
    "Integer": [True, False, 1.0, 2.5, "42", 10**400],
    "Float": [NAN, INFINITY, -INFINITY, True, "1.5", 10**400, 2**53 + 1],
    "Boolean": [0, 1, 2, 1.0, "true", "yes"],
    "Dict": [{1: "x"}, {"a": NAN}, OrderedDict(a=1), [], "{}"],
    "List": [("a",), [True], [0], [1], [1.5], [NAN], [10**400], [Text("t")], [None], [{"a": 1}], "ab"],
}
# Per kind, the values of the exact types the plan answers for, once the field's options allow them
TYPED: Values = {
    "String": st.text(max_size=6),
    "Integer": st.integers(),
    "Float": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**60), 2**60),
    "Boolean": st.booleans(),
    "Dict": st.dictionaries(st.text(max_size=3), ANY, max_size=3),
}
# Strategies are built once: hypothesis checks each new one, which would cost more than the examples
SCALARS = st.sampled_from(["String", "Integer", "Float", "Boolean"])
KINDS = SCALARS | st.sampled_from(["Dict", "List"])
OPTIONS = st.fixed_dictionaries({}, optional={
    "required": st.booleans(), "allow_none": st.booleans(),
    # Names shared between fields on purpose (marshmallow refuses some collisions), one like a dict method's
    "data_key": st.sampled_from(["first", "second", "keys"]),
    "attribute": st.sampled_from(["one", "two", "keys"]),
})
TRUTH = st.sampled_from([set(), {True}, {"yes", 1}, {False}, {True, "on"}, {0}])
KIND_OPTIONS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "Integer": st.fixed_dictionaries({}, optional={"strict": st.booleans()}),
    "Float": st.fixed_dictionaries({}, optional={"allow_nan": st.booleans()}),
    "Boolean": st.fixed_dictionaries({}, optional={"truthy": TRUTH, "falsy": TRUTH}),
    "Dict": st.fixed_dictionaries({}, optional={"keys": st.builds(fields.String)}),
}


@st.composite
def plain_fields(draw: st.DrawFn, truth: bool, inner: bool = False) -> tuple[fields.Field[Any], st.SearchStrategy[Any]]:
    """A field of a kind and with options the plan handles, and its typical values.

    :param truth: a Boolean may have its own truthy and falsy sets (the plan handles those that keep a bool)
    :param inner: the items of a List: a scalar kind
    """
    kind = draw(SCALARS if inner else KINDS)
    own: dict[str, Any] = draw(OPTIONS)
    if kind in KIND_OPTIONS and (truth or kind != "Boolean"):
        own.update(draw(KIND_OPTIONS[kind]))
    if kind == "List":
        items, values = draw(plain_fields(truth, inner=True))
        return fields.List(items, **own), st.lists(values, max_size=3)
    return getattr(fields, kind)(**own), TYPED[kind]


class Upper(fields.String):
    """A service's own field: a String subclass with its own deserialization."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        return str(super()._deserialize(value, attr, data, **kwargs)).upper()


class NestedSchema(Schema):
    name = fields.String()


# Fields the plan leaves to marshmallow
OTHER_FIELDS = {
    "validator": lambda: fields.String(validate=validators.Length(max=3)),
    "load_default": lambda: fields.Integer(load_default=1),
    "dump_default": lambda: fields.Integer(dump_default=1),
    "load_only": lambda: fields.String(load_only=True),
    "dump_only": lambda: fields.String(dump_only=True),
    "dotted attribute": lambda: fields.String(attribute="inner.name"),
    "empty attribute": lambda: fields.String(attribute=""),
    "integer as text": lambda: fields.Integer(as_string=True),
    "float as text": lambda: fields.Float(as_string=True),
    "own truth values": lambda: fields.Boolean(truthy={"yes"}, falsy={"no"}),
    "typed dict values": lambda: fields.Dict(keys=fields.String(), values=fields.Integer()),
    "validated dict keys": lambda: fields.Dict(keys=fields.String(validate=validators.Length(max=3))),
    "list of dicts": lambda: fields.List(fields.Dict()),
    "validated list items": lambda: fields.List(fields.Integer(validate=validators.Range(min=0))),
    "nested": lambda: fields.Nested(NestedSchema),
    "field subclass": Upper,
    "email": fields.Email,
}


def hooked(name: str, decorator: Callable[[Any], Any], base: type[Schema] = PubSubMessageSchema) -> type[Schema]:
    """A schema with one hook of marshmallow's, which changes nothing."""
    return type(name, (base,), {"hook": decorator(lambda self, data, **kwargs: data)})


class GetAttribute(PubSubMessageSchema):
    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        return super().get_attribute(obj, attr, default)


class RenamedMediaType(PubSubMessageSchema):
    """Overrides the old package's hook (the trusted post-load): the plan applies it too."""

    def deserialize_media_type(self, obj: Any) -> Any:
        return str(obj).upper()


class RefusedMediaType(PubSubMessageSchema):
    """Its media-type hook raises a ValidationError for some media types."""

    def deserialize_media_type(self, obj: Any) -> Any:
        if str(obj).startswith("x"):
            raise ValidationError("not this media type", "mediaType")
        return obj


# Schemas the plan handles (the base and the hook it trusts), and those it leaves to marshmallow
PLAIN_BASES = [Schema, PubSubMessageSchema, RenamedMediaType, RefusedMediaType]
OTHER_BASES = [
    hooked("PreLoad", pre_load), hooked("PreDump", pre_dump), hooked("PostDump", post_dump),
    hooked("PostLoad", post_load, Schema), hooked("Validates", validates("mediaType")),
    hooked("ValidatesSchema", validates_schema), GetAttribute,
    type("Ordered", (PubSubMessageSchema,), {"dict_class": OrderedDict}),
]


NAMES = st.lists(st.sampled_from(["alpha", "beta", "gamma", "items"]), min_size=1, max_size=4, unique=True)
UNKNOWN = st.sampled_from([EXCLUDE, INCLUDE, RAISE])
OTHER_FEATURES: list[Any] = [*OTHER_FIELDS, *OTHER_BASES, "many", "partial"]
MEDIA_TYPES = st.sampled_from(["application/json", "xml"]) | st.text(max_size=4)


@st.composite
def schemas(draw: st.DrawFn, truth: bool = True, feature: Any = None) -> tuple[Schema, Schema, Values]:
    """Two instances of a generated schema class, the second without a plan, and each field's typical values.

    :param feature: one of `OTHER_FEATURES`, a field, hook or option the plan leaves to marshmallow
    """
    body: dict[str, Any] = {"Meta": type("Meta", (), {"unknown": draw(UNKNOWN)})}
    values: Values = {}
    keys: set[str] = set()
    attributes: set[str] = set()
    for name in draw(NAMES):
        field, typed = draw(plain_fields(truth))
        key, attribute = field.data_key or name, field.attribute or name
        # marshmallow refuses a schema where two fields share a key or an attribute
        if not (key in keys or attribute in attributes):
            body[name], values[name] = field, typed
            keys.add(key)
            attributes.add(attribute)
    base, instance = draw(st.sampled_from(PLAIN_BASES)), {}
    if feature in OTHER_FIELDS:
        body[draw(st.sampled_from(list(values)))] = OTHER_FIELDS[feature]()
    elif feature in ("many", "partial"):
        instance = {feature: True}
    elif feature is not None:
        base = feature
    schema_class = type("Generated", (base,), body)
    fast, slow = schema_class(**instance), schema_class(**instance)
    vars(slow)[_PLAN_ATTRIBUTE] = None
    if issubclass(base, PubSubMessageSchema):
        values["mediaType"] = MEDIA_TYPES
        values["opaqueData"] = TYPED["Dict"]
    return fast, slow, values


UNKNOWN_KEYS = st.dictionaries(st.sampled_from(["surprise", "media_type", "first"]), ANY, min_size=1, max_size=2)


def keys(schema: Schema, load: bool) -> dict[str, str]:
    """Each field's key in a message (`load`: its data key) or in content (its attribute)."""
    return {name: (field.data_key if load else field.attribute) or name for name, field in schema.fields.items()}


@st.composite
def typical(draw: st.DrawFn, schema: Schema, values: Values, load: bool) -> dict[str, Any]:
    """A message or content the plan answers for: typical values, None only where allowed, and no required
    field left out, nor an attribute named like a dict method (marshmallow then reads the dict's own)."""
    result: dict[str, Any] = {}
    for name, key in keys(schema, load).items():
        field = schema.fields[name]
        choices = [values[name]] + ([st.none()] if field.allow_none else [])
        if not field.required and not hasattr({}, key):
            choices.append(st.just(ABSENT))
        value = draw(st.one_of(choices))
        if value is not ABSENT:
            result[key] = value
    return result


@st.composite
def anything(draw: st.DrawFn, schema: Schema, load: bool) -> dict[str, Any]:
    """A message or content of any values, with keys the schema does not declare."""
    return {**{key: draw(ANY) for key in keys(schema, load).values()}, **draw(UNKNOWN_KEYS)}


def near(schema: Schema, message: dict[str, Any], load: bool) -> list[Any]:
    """`message`, in another mapping, instead of a mapping, with an undeclared key, and with each field in
    turn left out, None, or each value near the typical ones that marshmallow converts or refuses."""
    result: list[Any] = [message, OrderedDict(message), [], "text", None, {**message, "surprise": 1}]
    for name, key in keys(schema, load).items():
        others = {other: value for other, value in message.items() if other != key}
        result.append(others)
        result.extend({**others, key: edge} for edge in [None, *EDGES.get(type(schema.fields[name]).__name__, [])])
    return result


def outcome(schema: Schema, call: Any, argument: Any) -> tuple[str, Any]:
    """What a codec call gives, comparable across paths: its result, types and key order included, or its error."""
    try:
        return "result", exact(call(schema, argument))
    except ValidationError as error:
        return "error", exact(error.messages)
    except Exception as error:  # marshmallow lets some through (an int too large for a Float): the same must
        return "raised", repr(error)


def exact(value: Any) -> Any:
    """`value` with the type of every part in it, so that 1, 1.0, True and a str subclass all differ."""
    if isinstance(value, dict):
        return type(value), [(exact(key), exact(item)) for key, item in value.items()]
    if isinstance(value, (list, tuple)):
        return type(value), [exact(item) for item in value]
    return type(value), repr(value)


class PropertyTests(unittest.TestCase):
    """Generated schemas and values, typical and not: the codec with its plan gives what marshmallow gives."""

    @PROPERTY_SETTINGS
    @given(st.data())
    def test_load_is_marshmallow_load(self, data: st.DataObject) -> None:
        """Any message loads (or fails) as marshmallow's load: same dict, types, key order, or same errors."""
        fast, slow, values = data.draw(schemas())
        for message in [*near(fast, data.draw(typical(fast, values, True)), True), data.draw(anything(fast, True))]:
            assert_that(outcome(fast, decode, message), is_(equal_to(outcome(slow, decode, message))), repr(message))

    @PROPERTY_SETTINGS
    @given(st.data())
    def test_dump_is_marshmallow_dump_and_validate(self, data: st.DataObject) -> None:
        """Any content dumps and validates (or fails) as marshmallow's dump then validate."""
        fast, slow, values = data.draw(schemas())
        for content in [*near(fast, data.draw(typical(fast, values, False)), False), data.draw(anything(fast, False))]:
            assert_that(outcome(fast, dump, content), is_(equal_to(outcome(slow, dump, content))), repr(content))

    @PROPERTY_SETTINGS
    @given(st.data())
    def test_plain_schemas_take_the_fast_route(self, data: st.DataObject) -> None:
        """A schema of plain fields gets a plan, which loads and dumps typical values itself."""
        fast, _, values = data.draw(schemas(truth=False))
        message = data.draw(typical(fast, values, load=True))
        content = data.draw(typical(fast, values, load=False))
        if "mediaType" in message:  # not one that `RefusedMediaType` refuses
            message["mediaType"] = "application/json"
        plan = plan_for(fast, TRUSTED_POST_LOAD)
        assert plan is not None
        assert_that(plan.load(fast, message), is_not(none()))
        assert_that(plan.dump(fast, content), is_not(none()))

    @settings(PROPERTY_SETTINGS, max_examples=10)
    @given(st.data())
    def test_other_schemas_are_left_to_marshmallow(self, data: st.DataObject) -> None:
        """Each field, hook or option the plan does not reproduce (validators, defaults, Nested...): no plan."""
        for feature in OTHER_FEATURES:
            fast, _, _ = data.draw(schemas(truth=False, feature=feature))
            assert_that(plan_for(fast, TRUSTED_POST_LOAD), is_(none()), str(feature))


class GateTests(unittest.TestCase):
    def test_tested_releases(self) -> None:
        """The releases from setup.py's pin to those the suite's environments run are tested."""
        for release in ("3.18.0", "3.20.1", "3.26.2", "4.0.0", "4.3.1", "4.4.0"):
            assert_that(tested_marshmallow(release), is_(True), release)

    def test_other_releases(self) -> None:
        """Older, newer, pre-release and unreadable versions are not: marshmallow does all the work."""
        for release in ("2.21.0", "3.17.1", "3.27.0", "4.5.0", "5.0.0", "4.4.0rc1", "4.4.dev0", "4", "", "x.y"):
            assert_that(tested_marshmallow(release), is_(False), release)

    def test_installed_release_is_enabled(self) -> None:
        """The marshmallow this suite runs is in the tested range, with every private name the plan uses."""
        assert_that((ENABLED, missing_private_names()), is_(equal_to((True, []))))

    def test_missing_private_names_reported(self) -> None:
        """A marshmallow without one of the private names the plan relies on is found out."""

        class Bare:
            pass

        assert_that(missing_private_names(Bare, ()), has_items("_hooks", "_do_load", "_format_num", "_validate"))
        assert_that(missing_private_names(Schema, (fields.Field,)), is_(equal_to(
            ["_format_num", "_to_string", "_validated"],
        )))
        assert_that(missing_private_names(), is_(empty()))


class PlanTests(unittest.TestCase):
    def test_plan_is_built_once_per_instance(self) -> None:
        """A schema instance keeps its plan: the second look-up returns the same one."""
        schema = PubSubMessageSchema()
        assert_that(plan_for(schema, TRUSTED_POST_LOAD), is_(same_instance(plan_for(schema, TRUSTED_POST_LOAD))))
        assert_that(plan_for(schema, TRUSTED_POST_LOAD), is_(Plan))

    def test_old_codec_decodes_json_text(self) -> None:
        """The old package's `PubSubMessageCodec.decode` of JSON text gives marshmallow's load, on the plan."""
        schema_class = type("Item", (PubSubMessageSchema,), {"name": fields.String(), "count": fields.Integer()})
        message = {"mediaType": "application/json", "name": "widget", "count": 42}
        codec = PubSubMessageCodec(schema_class())
        assert_that(plan_for(codec.schema, TRUSTED_POST_LOAD), is_(Plan))
        assert_that(codec.decode(json.dumps(message)), is_(equal_to(schema_class().load(message))))

    def test_untrusted_post_load(self) -> None:
        """The media-type hook is trusted only when the codec says so."""
        assert_that(plan_for(PubSubMessageSchema()), is_(none()))
