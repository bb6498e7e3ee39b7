"""The reliability suite's daemon, TCP proxy and harness (real subprocesses against the local endpoint)."""
