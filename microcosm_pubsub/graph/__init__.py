"""How components meet the microcosm object graph: typed configuration and test doubles by name."""
