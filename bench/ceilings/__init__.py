"""Ceilings and the baseline: programs the platform's throughput is compared with."""
