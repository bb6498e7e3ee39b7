"""Kept for services written for the old package: handlers whose work is a chain (`microcosm_pubsub.chain`)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from microcosm_pubsub.chain import Chain
from microcosm_pubsub.handlers.uri_handler import URIHandler


class ChainHandler(ABC):
    """A handler that runs the chain from `get_chain` with `message` in its context; returns the chain's result."""

    def __init__(self, graph: Any = None) -> None:
        self.graph = graph

    @abstractmethod
    def get_chain(self) -> Any:
        """The chain (or a single link) to run for each message."""

    def __call__(self, message: Mapping[str, Any]) -> Any:
        return Chain(self.get_chain())(message=message)


class ChainURIHandler(URIHandler, ABC):
    """A URIHandler whose `handle` runs the chain from `get_chain` with `message`, `uri` and the resource."""

    @abstractmethod
    def get_chain(self) -> Any:
        """The chain (or a single link) to run for each fetched resource."""

    @property
    def resource_name(self) -> str:
        return "resource"

    def handle(self, message: Mapping[str, Any], uri: str, resource: Any) -> bool:
        Chain(self.get_chain())(**{"message": message, "uri": uri, self.resource_name: resource})
        return True  # handled once the chain has run, whatever it returned
