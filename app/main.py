"""The worker's topology, in the order a reader follows it: the app, its tables, the agents
that keep them, the services beside them, then the HTTP API over them.

``faust -A app`` loads this module through the app's autodiscovery (``app.faust_app``); it
is the one module of ``app`` that imports the layers above it, and nothing imports it.
Importing a module below registers the agents, timers and services it declares with a
decorator (``@app.agent``, ``@app.timer``, ``@app.service``); ``wire`` installs the rest:
the HTTP API's blueprints, hooks, middlewares and the metrics collector.
"""

from __future__ import annotations

from agents import adapters, bet_watch, catalog, odds, producers, recovery, sink
from app.faust_app import app
from tables import state
from web import (
    bets,
    board,
    errors,
    follower,
    graphql_http,
    health,
    history,
    listing,
    scrape,
    stream,
    views,
)

#: Declared by importing them: kept here so the order above reads as the topology.
TABLES = state.TABLES
AGENTS = (adapters, catalog, odds, producers, recovery, bet_watch)
SERVICES = (follower,)
#: The HTTP API, one blueprint per resource.
BLUEPRINTS = (views.blueprint, listing.blueprint, bets.blueprint, history.blueprint,
              graphql_http.blueprint, stream.blueprint, health.blueprint, board.blueprint)


def wire() -> None:
    """Install what no decorator declares: rebalance hooks and services, the HTTP API and its
    middlewares and shutdown hooks, the metrics collector."""
    odds.install(app)
    sink.install(app)
    for blueprint in BLUEPRINTS:
        blueprint.register(app)
    errors.install(app)
    board.install(app)
    stream.install(app)
    history.install(app)
    scrape.install()


wire()
