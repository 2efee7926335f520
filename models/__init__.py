"""Canonical feed messages, market snapshots and the pure rules between them."""
