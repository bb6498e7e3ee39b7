"""The sample service's consumer: `python -m examples.sample_service.daemon --sqs-queue-url URL`."""
from __future__ import annotations

# Importing the handler binds it, and its schemas, for the daemon's graph
import examples.sample_service.handlers  # noqa: F401
from microcosm_pubsub.daemon import ConsumerDaemon


class SampleServiceDaemon(ConsumerDaemon):
    name = "sample_service"

    @property
    def components(self) -> list[str]:
        return [*super().components, "sample_order_handler"]


if __name__ == "__main__":
    SampleServiceDaemon().run()
