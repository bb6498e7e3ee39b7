"""The chain DSL, kept for services written against microcosm-pubsub 2.x; the core never imports it."""
from microcosm_pubsub.chain.chain import Chain
from microcosm_pubsub.chain.context import SafeContext, ScopedSafeContext
from microcosm_pubsub.chain.decorators import binds, extracts
from microcosm_pubsub.chain.exceptions import AttributeNotFound, ChainError, ContextKeyAlreadySet, ContextKeyNotFound
from microcosm_pubsub.chain.statements import (
    assign,
    assign_constant,
    assign_function,
    call,
    extract,
    for_each,
    switch,
    try_chain,
    when,
)


__all__ = [
    "AttributeNotFound", "Chain", "ChainError", "ContextKeyAlreadySet", "ContextKeyNotFound", "SafeContext",
    "ScopedSafeContext", "assign", "assign_constant", "assign_function", "binds", "call", "extract", "extracts",
    "for_each", "switch", "try_chain", "when",
]
