"""HTTP views served by every worker."""
