"""The old README's daemon example, unchanged but for lint markers, to prove it still runs."""
# ruff: noqa: UP008, RUF005 - the old code is kept as users wrote it
from marshmallow import fields
from microcosm.api import binding

from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema


@schema
class SimpleSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.globality.pubsub.simple"
    name = fields.String(required=True)

    def deserialize_media_type(self, obj):
        return SimpleSchema.MEDIA_TYPE


@binding("simple_handler")
@handles(SimpleSchema)
class SimpleHandler:
    def __init__(self, graph):
        pass

    def __call__(self, message):
        print("handled", message["name"], flush=True)
        return True


class SimpleConsumerDaemon(ConsumerDaemon):
    @property
    def name(self):  # type: ignore[override]  # ConsumerDaemon.name is a plain attribute; old code used a property
        return "example"

    @property
    def components(self):
        return super(SimpleConsumerDaemon, self).components + ["simple_handler"]


if __name__ == "__main__":
    daemon = SimpleConsumerDaemon()
    daemon.run()
