"""Example services built on microcosm_pubsub; their tests run in the package's suite."""
