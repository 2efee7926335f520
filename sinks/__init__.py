"""Sinks: the MySQL writer (batched, idempotent, version-guarded)."""
