"""The commands of ``faust -A app``: each one wires what it runs (nothing imports them)."""
