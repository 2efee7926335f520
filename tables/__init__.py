"""Table declarations: market snapshots and the per-event market index."""
