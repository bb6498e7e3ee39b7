"""The sample service's pytest-style tests: fixtures from microcosm_pubsub.testing.pytest_plugin."""
