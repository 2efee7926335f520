"""Scalars of the GraphQL schema that GraphQL itself lacks."""

from __future__ import annotations

from typing import NewType

import strawberry

#: GraphQL's Int is 32 bits; epoch milliseconds need more.
Millis = NewType("Millis", int)
MILLIS = strawberry.scalar(name="Millis", serialize=int, parse_value=int,
                           description="Milliseconds since the Unix epoch (a 64-bit integer).")
