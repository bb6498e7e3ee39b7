"""A daemon whose handler takes the time a message asks for and records each start and finish in a file."""
from __future__ import annotations

import os
import time
from typing import Any

from marshmallow import fields
from microcosm.api import binding

from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema


# The file the handler appends "<event> <name> <pid>" lines to
RECORD_FILE_VARIABLE = "RECORDING_DAEMON_FILE"


@schema
class WorkSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.work"

    name = fields.String(required=True)
    seconds = fields.Float(load_default=0.0)


@binding("recording_handler")
@handles(WorkSchema)
class RecordingHandler:
    def __init__(self, graph: Any) -> None:
        self.path = os.environ[RECORD_FILE_VARIABLE]

    def __call__(self, message: dict[str, Any]) -> bool:
        self.record("started", message["name"])
        time.sleep(message["seconds"])
        self.record("finished", message["name"])
        return True

    def record(self, event: str, name: str) -> None:
        # One short write per line in append mode: lines of concurrent handlers and processes never interleave
        with open(self.path, "a") as file:
            file.write(f"{event} {name} {os.getpid()}\n")


class RecordingDaemon(ConsumerDaemon):
    name = "recording"

    @property
    def components(self) -> list[str]:
        return [*super().components, "recording_handler"]

    @property
    def defaults(self) -> dict[str, Any]:
        # Short polls so a SIGTERM is acted on within a second; concurrency 2 shows defaults beat the library's 1
        return {"sqs_consumer": {"concurrency": 2, "wait_seconds": 1}}


if __name__ == "__main__":
    RecordingDaemon().run()
