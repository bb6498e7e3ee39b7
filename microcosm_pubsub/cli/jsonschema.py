"""The converter `pubsub schemas` exports with; it lives in `microcosm_pubsub.contracts.jsonschema`."""
from __future__ import annotations

from microcosm_pubsub.contracts.jsonschema import DIALECT, SIMPLE, json_schema


__all__ = ["DIALECT", "SIMPLE", "json_schema"]
