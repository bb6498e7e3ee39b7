"""Exactly-once effects: idempotent handling on a store, and the transactional outbox."""
