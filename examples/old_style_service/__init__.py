"""A service written for the old microcosm-pubsub 2.30 and left as it was: its code and its tests run here unchanged."""
