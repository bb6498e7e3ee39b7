"""Enables the package's pytest fixtures (`pubsub_published`, `pubsub_environment`) for these tests."""
from __future__ import annotations

import pytest

from examples.sample_service.schemas import InvoiceCreatedSchema, OrderCreatedSchema


pytest_plugins = ["microcosm_pubsub.testing.pytest_plugin"]


@pytest.fixture
def pubsub_environment_options() -> dict[str, object]:
    """The integration environment's keyword arguments: one topic per media type."""
    return {"name": "sample-pytest", "media_types": [OrderCreatedSchema.MEDIA_TYPE, InvoiceCreatedSchema.MEDIA_TYPE]}
