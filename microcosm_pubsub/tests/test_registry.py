"""Schema and handler registries: exact and wildcard lookups, class handlers, duplicates."""
from __future__ import annotations

import unittest
import uuid
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    equal_to,
    has_item,
    instance_of,
    is_,
    is_in,
    is_not,
    raises,
    same_instance,
)
from marshmallow import fields
from microcosm.api import binding, create_object_graph, load_from_dict

from microcosm_pubsub.conventions import (
    ChangedURIMessageSchema,
    IdentityMessageSchema,
    URIMessageSchema,
    changed,
    created,
    deleted,
    media_type,
)
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry, handler_name
from microcosm_pubsub.wire.errors import (
    AlreadyRegisteredError,
    DuplicateHandlerError,
    HandlerNotFoundError,
    PubSubError,
    SchemaNotFoundError,
)


PREFIX = "application/vnd.globality.pubsub._.test-registry"


@schema
class DeclaredCreatedSchema(PubSubMessageSchema):
    MEDIA_TYPE = created("DeclaredThing")

    name = fields.String(required=True)


@schema
class ExactSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.exact"

    name = fields.String(required=True)


@schema
class WildcardSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.wild.*"


@schema
class SpecialSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.wild.special"


class HandledSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.handled"


@handles(HandledSchema)
def handle_handled(message: dict[str, Any]) -> bool:
    return True


@handles(f"{PREFIX}.function")
def handle_function(message: dict[str, Any]) -> bool:
    return True


@handles(f"{PREFIX}.any.*")
def handle_any(message: dict[str, Any]) -> bool:
    return True


@handles(f"{PREFIX}.overridden")
def handle_overridden(message: dict[str, Any]) -> bool:
    return True


@handles(f"{PREFIX}.unbound")
def handle_unbound(message: dict[str, Any]) -> bool:
    return True


# A decorated function is active once a binding of the daemon's graph returns it (as in the old package)
for _name, _function in (
    ("test_registry_handle_handled", handle_handled),
    ("test_registry_handle_function", handle_function),
    ("test_registry_handle_any", handle_any),
    ("test_registry_handle_overridden", handle_overridden),
):
    binding(_name)(lambda graph, function=_function: function)

FUNCTION_BINDINGS = [
    "test_registry_handle_handled", "test_registry_handle_function", "test_registry_handle_any",
    "test_registry_handle_overridden",
]


@handles(f"{PREFIX}.component")
class ComponentHandler:
    def __init__(self, graph: Any) -> None:
        self.graph = graph

    def __call__(self, message: dict[str, Any]) -> bool:
        return True


@handles(f"{PREFIX}.duplicate")
class FirstDuplicateHandler:
    def __init__(self, graph: Any) -> None:
        pass

    def __call__(self, message: dict[str, Any]) -> bool:
        return True


@handles(f"{PREFIX}.duplicate")
class SecondDuplicateHandler:
    def __init__(self, graph: Any) -> None:
        pass

    def __call__(self, message: dict[str, Any]) -> bool:
        return True


def new_graph() -> Any:
    return create_object_graph("test", testing=True, loader=load_from_dict({}))


class SchemaRegistryTests(unittest.TestCase):
    def setUp(self) -> None:
        self.registry = new_graph().pubsub_message_schema_registry

    def test_exact(self) -> None:
        """A schema is found under its exact media type."""
        assert_that(self.registry.find(ExactSchema.MEDIA_TYPE).schema, is_(instance_of(ExactSchema)))

    def test_instance_reused(self) -> None:
        """The registry hands out one codec (and schema instance) per media type."""
        first = self.registry.find(ExactSchema.MEDIA_TYPE)
        assert_that(self.registry.find(ExactSchema.MEDIA_TYPE), is_(same_instance(first)))

    def test_wildcard_one_segment(self) -> None:
        """`prefix.*` matches a media type with one more final segment."""
        assert_that(self.registry.find(f"{PREFIX}.wild.one").schema, is_(instance_of(WildcardSchema)))

    def test_wildcard_not_two_segments(self) -> None:
        """`prefix.*` does not match two more segments."""
        assert_that(f"{PREFIX}.wild.one.two", is_not(is_in(self.registry)))

    def test_wildcard_not_prefix_itself(self) -> None:
        """`prefix.*` does not match the bare prefix."""
        assert_that(f"{PREFIX}.wild", is_not(is_in(self.registry)))

    def test_exact_beats_wildcard(self) -> None:
        """An exact registration wins over a wildcard that also matches."""
        assert_that(self.registry.find(f"{PREFIX}.wild.special").schema, is_(instance_of(SpecialSchema)))

    def test_not_found_message(self) -> None:
        """SchemaNotFoundError names the media type and how to register one."""
        assert_that(
            calling(self.registry.find).with_args(f"{PREFIX}.nobody"),
            raises(SchemaNotFoundError, f"{PREFIX}.nobody.*@schema"),
        )

    def test_schema_declared_after_registry(self) -> None:
        """A schema imported after the registry was built is still found."""

        @schema
        class LateSchema(PubSubMessageSchema):
            MEDIA_TYPE = f"{PREFIX}.late-{uuid.uuid4().hex}"

        assert_that(self.registry.find(LateSchema.MEDIA_TYPE).schema, is_(instance_of(LateSchema)))

    def test_two_schemas_for_one_media_type(self) -> None:
        """Registering a second schema class for a media type is an error naming both."""
        registry = PubSubMessageSchemaRegistry(None)
        registry.register(f"{PREFIX}.clash", ExactSchema)
        assert_that(
            calling(registry.register).with_args(f"{PREFIX}.clash", SpecialSchema),
            raises(PubSubError, "ExactSchema and SpecialSchema"),
        )

    def test_same_schema_twice(self) -> None:
        """Registering the same schema class again is harmless."""
        registry = PubSubMessageSchemaRegistry(None)
        registry.register(f"{PREFIX}.again", ExactSchema)
        registry.register(f"{PREFIX}.again", ExactSchema)
        assert_that(registry.find(f"{PREFIX}.again").schema, is_(instance_of(ExactSchema)))


def bound_graph() -> Any:
    graph = new_graph()
    graph.use(*FUNCTION_BINDINGS)
    return graph


class FunctionHandlerTests(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = bound_graph()
        self.registry = self.graph.sqs_message_handler_registry

    def test_function_by_media_type(self) -> None:
        """A function decorated with @handles(media_type) and bound is the handler for it."""
        assert_that(self.registry.find(f"{PREFIX}.function"), is_(same_instance(handle_function)))

    def test_function_by_schema(self) -> None:
        """@handles(SchemaClass) registers the handler under the schema's media type."""
        assert_that(self.registry.find(HandledSchema.MEDIA_TYPE), is_(same_instance(handle_handled)))

    def test_handles_registers_schema(self) -> None:
        """@handles(SchemaClass) registers the schema too."""
        schemas = self.graph.pubsub_message_schema_registry
        assert_that(schemas.find(HandledSchema.MEDIA_TYPE).schema, is_(instance_of(HandledSchema)))

    def test_wildcard_handler(self) -> None:
        """A `prefix.*` handler matches one more segment, not two."""
        assert_that(self.registry.find(f"{PREFIX}.any.thing"), is_(same_instance(handle_any)))
        assert_that(calling(self.registry.find).with_args(f"{PREFIX}.any.thing.else"), raises(KeyError))

    def test_unknown_media_type(self) -> None:
        """A media type nobody handles raises HandlerNotFoundError, a KeyError naming it."""
        assert_that(
            calling(self.registry.find).with_args(f"{PREFIX}.nobody"),
            raises(HandlerNotFoundError, f"{PREFIX}.nobody"),
        )

    def test_unbound_function_inactive(self) -> None:
        """A decorated function no binding of the graph returns is not a handler (another daemon's)."""
        assert_that(calling(self.registry.find).with_args(f"{PREFIX}.unbound"), raises(KeyError))

    def test_unbound_without_use(self) -> None:
        """Without its binding in use, even a bound-able function is inactive."""
        registry = new_graph().sqs_message_handler_registry
        assert_that(calling(registry.find).with_args(f"{PREFIX}.function"), raises(KeyError))

    def test_media_types_listed(self) -> None:
        """The active media types include the bound functions'."""
        assert_that(self.registry.media_types, has_item(f"{PREFIX}.function"))

    def test_handler_name(self) -> None:
        """A handler's name for logs is its module and qualified name."""
        assert_that(handler_name(handle_function), is_(equal_to(f"{__name__}.handle_function")))


class BoundHandlersTests(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = bound_graph()
        self.registry = self.graph.sqs_message_handler_registry

    def test_compute_for_components(self) -> None:
        """compute_bound_handlers keeps to the named components."""
        bound = self.registry.compute_bound_handlers(["test_registry_handle_function"])
        assert_that(bound, is_(equal_to({f"{PREFIX}.function": handle_function})))

    def test_find_in_given_handlers(self) -> None:
        """find() with bound_handlers looks there only."""
        bound = self.registry.compute_bound_handlers(["test_registry_handle_function"])
        assert_that(calling(self.registry.find).with_args(HandledSchema.MEDIA_TYPE, bound), raises(KeyError))

    def test_class_built_per_message(self) -> None:
        """A class given as a bound handler is built with the graph on each find."""
        bound = {f"{PREFIX}.component": ComponentHandler}
        first = self.registry.find(f"{PREFIX}.component", bound)
        second = self.registry.find(f"{PREFIX}.component", bound)
        assert_that((first.graph, first is second), is_(equal_to((self.graph, False))))

    def test_registered_and_bound_clash(self) -> None:
        """A registered handler bound beside a decorated one for its media type is AlreadyRegisteredError."""
        self.graph.assign("second_function_handler", lambda message: True)
        self.registry.register(f"{PREFIX}.function", self.graph.second_function_handler)
        assert_that(
            calling(self.registry.compute_bound_handlers).with_args(
                ["test_registry_handle_function", "second_function_handler"],
            ),
            raises(AlreadyRegisteredError, "has two handlers"),
        )


class ClassHandlerTests(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = new_graph()
        self.registry = self.graph.sqs_message_handler_registry

    def test_inactive_without_component(self) -> None:
        """A decorated class is not a handler until the graph builds it as a component."""
        assert_that(calling(self.registry.find).with_args(f"{PREFIX}.component"), raises(KeyError))

    def test_active_as_bound_component(self) -> None:
        """A decorated class bound and used in the graph becomes the handler."""
        key = f"test_registry_component_{uuid.uuid4().hex}"
        binding(key)(ComponentHandler)
        graph = new_graph()
        [component] = graph.use(key)
        assert_that(graph.sqs_message_handler_registry.find(f"{PREFIX}.component"), is_(same_instance(component)))

    def test_active_after_assign(self) -> None:
        """A component assigned to the graph becomes active at the next activate()."""
        component = self.graph.assign("component_handler", ComponentHandler(self.graph))
        assert_that(self.registry.activate(), has_item(f"{PREFIX}.component"))
        assert_that(self.registry.find(f"{PREFIX}.component"), is_(same_instance(component)))

    def test_duplicate_handlers(self) -> None:
        """Two active handlers for one media type raise DuplicateHandlerError naming both."""
        self.graph.assign("first_duplicate", FirstDuplicateHandler(self.graph))
        self.graph.assign("second_duplicate", SecondDuplicateHandler(self.graph))
        assert_that(
            calling(self.registry.activate),
            raises(DuplicateHandlerError, "FirstDuplicateHandler and .*SecondDuplicateHandler"),
        )

    def test_one_duplicate_is_fine(self) -> None:
        """Only one of two classes for a media type being a component is no conflict."""
        component = self.graph.assign("first_duplicate", FirstDuplicateHandler(self.graph))
        self.registry.activate()
        assert_that(self.registry.find(f"{PREFIX}.duplicate"), is_(same_instance(component)))


class ExplicitRegistrationTests(unittest.TestCase):
    def setUp(self) -> None:
        self.registry = bound_graph().sqs_message_handler_registry

    def test_register(self) -> None:
        """register() makes a handler findable without any decorator."""

        def handler(message: dict[str, Any]) -> bool:
            return True

        self.registry.register(f"{PREFIX}.explicit", handler)
        assert_that(self.registry.find(f"{PREFIX}.explicit"), is_(same_instance(handler)))

    def test_register_wins(self) -> None:
        """An explicitly registered handler wins over a decorated one."""

        def replacement(message: dict[str, Any]) -> bool:
            return False

        assert_that(self.registry.find(f"{PREFIX}.overridden"), is_(same_instance(handle_overridden)))
        self.registry.register(f"{PREFIX}.overridden", replacement)
        assert_that(self.registry.find(f"{PREFIX}.overridden"), is_(same_instance(replacement)))

    def test_register_is_per_graph(self) -> None:
        """A registration on one graph's registry leaves another graph's alone."""
        self.registry.register(f"{PREFIX}.overridden", lambda message: False)
        other = bound_graph().sqs_message_handler_registry
        assert_that(other.find(f"{PREFIX}.overridden"), is_(same_instance(handle_overridden)))


class AutoRegistrationTests(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = new_graph()
        self.registry = self.graph.pubsub_message_schema_registry

    def test_created_gets_uri_schema(self) -> None:
        """An undeclared created() media type gets URIMessageSchema."""
        assert_that(self.registry.find(created("AutoThing")).schema, is_(instance_of(URIMessageSchema)))

    def test_deleted_gets_identity_schema(self) -> None:
        """An undeclared deleted() media type gets IdentityMessageSchema."""
        assert_that(self.registry.find(deleted("AutoThing")).schema, is_(instance_of(IdentityMessageSchema)))

    def test_changed_gets_changed_uri_schema(self) -> None:
        """An undeclared changed() media type gets ChangedURIMessageSchema."""
        assert_that(self.registry.find(changed("AutoThing")).schema, is_(instance_of(ChangedURIMessageSchema)))

    def test_custom_verb_after_add(self) -> None:
        """A verb added to the graph's pubsub_lifecycle_change gets URIMessageSchema too."""
        self.graph.pubsub_lifecycle_change.add("archived")
        assert_that(self.registry.find(media_type("archived")("thing")).schema, is_(instance_of(URIMessageSchema)))

    def test_unknown_verb_not_registered(self) -> None:
        """A verb nobody added gets no schema."""
        frobbed = media_type("frobbed")("thing")
        assert_that(calling(self.registry.find).with_args(frobbed), raises(SchemaNotFoundError))

    def test_declared_schema_wins(self) -> None:
        """A declared schema for a convention media type is used instead of the convention."""
        found = self.registry.find(DeclaredCreatedSchema.MEDIA_TYPE).schema
        assert_that(found, is_(instance_of(DeclaredCreatedSchema)))

    def test_declared_later_replaces_convention(self) -> None:
        """Registering a schema after a convention one was given replaces it without a clash."""
        media = created(f"late_{uuid.uuid4().hex}")
        self.registry.find(media)
        self.registry.register(media, DeclaredCreatedSchema)
        assert_that(self.registry.find(media).schema, is_(instance_of(DeclaredCreatedSchema)))

    def test_switched_off(self) -> None:
        """With auto_register false, a convention media type needs a declared schema."""
        graph: Any = create_object_graph("test", testing=True, loader=load_from_dict(
            {"pubsub_message_schema_registry": {"auto_register": "false"}},
        ))
        assert_that(
            calling(graph.pubsub_message_schema_registry.find).with_args(created("AutoThing")),
            raises(SchemaNotFoundError),
        )


class OldErrorNameTests(unittest.TestCase):
    def test_not_found_is_key_error(self) -> None:
        """An unknown media type raises something `except KeyError` catches."""
        registry = new_graph().pubsub_message_schema_registry
        assert_that(calling(registry.find).with_args(f"{PREFIX}.nothing"), raises(KeyError))

    def test_not_found_message_unquoted(self) -> None:
        """The KeyError's text reads as a sentence, not a quoted repr."""
        error = SchemaNotFoundError("no schema")
        assert_that(str(error), is_(equal_to("no schema")))

    def test_already_registered(self) -> None:
        """A clash raises AlreadyRegisteredError, importable from the registry module."""
        registry = PubSubMessageSchemaRegistry(None)
        registry.register(f"{PREFIX}.clash-old", ExactSchema)
        assert_that(
            calling(registry.register).with_args(f"{PREFIX}.clash-old", SpecialSchema), raises(AlreadyRegisteredError),
        )

    def test_duplicate_handler_is_already_registered(self) -> None:
        """Two active handlers are an AlreadyRegisteredError too."""
        assert_that(issubclass(DuplicateHandlerError, AlreadyRegisteredError), is_(equal_to(True)))


def standalone_upload(message: dict[str, Any]) -> bool:
    return True


def other_standalone_upload(message: dict[str, Any]) -> bool:
    return True


class StandaloneHandlerTests(unittest.TestCase):
    """Functions active without a binding (what `@handles_foreign_event` declares), on a registry of their own."""

    def setUp(self) -> None:
        self.graph = bound_graph()
        self.registry = self.graph.sqs_message_handler_registry

    def test_active_without_binding(self) -> None:
        """A standalone function handles its media type with no binding in the graph."""
        self.registry.declare_standalone(f"{PREFIX}.standalone", standalone_upload)
        assert_that(self.registry.activate()[f"{PREFIX}.standalone"], is_(same_instance(standalone_upload)))

    def test_bound_handler_wins(self) -> None:
        """A bound handler for the same media type is the one that handles it."""
        self.registry.declare_standalone(f"{PREFIX}.function", standalone_upload)
        assert_that(self.registry.activate()[f"{PREFIX}.function"], is_(same_instance(handle_function)))

    def test_two_standalone_functions_clash(self) -> None:
        """Two different standalone functions for one media type are a DuplicateHandlerError naming both."""
        self.registry.declare_standalone(f"{PREFIX}.standalone", standalone_upload)
        assert_that(
            calling(self.registry.declare_standalone).with_args(f"{PREFIX}.standalone", other_standalone_upload),
            raises(DuplicateHandlerError, "standalone_upload and .*other_standalone_upload"),
        )

    def test_inactive_lists_declared_but_not_active(self) -> None:
        """`inactive` names a declared handler whose media type no active handler takes, not an active one's."""
        inactive = self.registry.inactive(self.registry.activate(["test_registry_handle_function"]))
        assert_that(
            (f"{PREFIX}.unbound", handle_unbound), is_in(inactive),
        )
        assert_that(
            (f"{PREFIX}.function", handle_function), is_not(is_in(inactive)),
        )
