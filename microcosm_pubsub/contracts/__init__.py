"""Message contracts: JSON Schema of the schemas, the lock file that records them, and the compatibility gate."""
