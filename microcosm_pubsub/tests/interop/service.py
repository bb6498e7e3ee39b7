"""A service written for the OLD microcosm-pubsub 2.30.3, run unchanged under either package.

The interoperability tests run this one file with the old package's Python and with ours, as a
producer and as a consumer daemon, and compare what the handlers saw. It is written exactly as a
service on the old package would be (so it is not checked by our linters), and configured from the
environment as an old deployment is (`INTEROP__...` variables).

    service.py produce                              publish the interop set; prints the ids as JSON
    service.py consume --sqs-queue-url URL [...]    the ConsumerDaemon; each handled message becomes
                                                    a JSON line in $INTEROP_OUT
"""
import json
import os
import sys

from marshmallow import fields
from microcosm.api import binding, create_object_graph
from microcosm.loaders import load_from_environ

from microcosm_pubsub.codecs import PubSubMessageSchema
from microcosm_pubsub.conventions import changed, created, deleted
from microcosm_pubsub.daemon import ConsumerDaemon
from microcosm_pubsub.decorators import handles, schema
from microcosm_pubsub.handlers import PublishBatchMessage  # noqa: F401 (binds publish_message_batch)
from microcosm_pubsub.producer import DeferredBatchProducer


NAME = "interop"
GREETING = "application/vnd.globality.pubsub._.interop.greeting"
CUSTOM_OPAQUE = {"X-Request-Id": "interop-request-1", "X-Interop-Tenant": "tenant-7"}


@schema
class GreetingSchema(PubSubMessageSchema):
    MEDIA_TYPE = GREETING

    message = fields.String(required=True)


@handles(GreetingSchema)
@handles(created("Foo"))
@handles(changed("Foo"))
@handles(deleted("Foo"))
@handles(created("InteropItem"))
@handles(created("FooFollowUp"))
class Recorder:
    """Writes down what it was given; a created Foo gets a follow-up message, as URI handlers often do."""

    def __init__(self, graph):
        self.graph = graph

    def __call__(self, message):
        line = {"content": message, "opaque": dict(self.graph.opaque.as_dict())}
        with open(os.environ["INTEROP_OUT"], "a") as out:
            out.write(json.dumps(line, default=str) + "\n")
        if message["media_type"] == created("Foo"):
            self.graph.sns_producer.produce(created("FooFollowUp"), uri=message["uri"] + "/follow_up")
        return True


@binding("interop_recorder")
def configure_recorder(graph):
    return Recorder(graph)


class InteropDaemon(ConsumerDaemon):
    @property
    def name(self):
        return NAME

    @property
    def components(self):
        return super().components + ["interop_recorder", "publish_message_batch", "sns_producer"]


def produce():
    graph = create_object_graph(NAME, loader=load_from_environ)
    graph.use("opaque", "sns_producer")
    for key, value in CUSTOM_OPAQUE.items():
        graph.opaque[key] = value
    producer = graph.sns_producer
    ids = [
        producer.produce(created("Foo"), uri="http://example.com/api/v1/foo/1"),
        producer.produce(changed("Foo"), uri="http://example.com/api/v1/foo/1", field_name="state", new_value="done"),
        producer.produce(deleted("Foo"), id="foo-1"),
        producer.produce(GREETING, message="hello"),
        # Mapped to its own topic by INTEROP__SNS_TOPIC_ARNS__CREATED__INTEROP__DOTTED_THING
        producer.produce(created("Interop.DottedThing"), uri="http://example.com/api/v1/dotted_thing/1"),
    ]
    with DeferredBatchProducer(producer) as batch:
        for index in range(3):
            batch.produce(created("InteropItem"), uri=f"http://example.com/api/v1/interop_item/{index}")
    print(json.dumps({"message_ids": ids}))


if __name__ == "__main__":
    command = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    if command == "produce":
        produce()
    elif command == "consume":
        # The daemon parses the rest of the command line itself
        InteropDaemon().run()
    else:
        raise SystemExit(f"unknown command {command!r}: produce or consume")
