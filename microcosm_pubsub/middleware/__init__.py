"""Pluggable pieces around publishing and handling: the chain, signing, tracing, metrics, health."""
