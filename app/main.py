"""The worker's topology, in the order a reader follows it: the app, its tables, the agents
that keep them, the services beside them, then the HTTP API over them.

``faust -A app`` loads this module through the app's autodiscovery (``app.faust_app``); it
is the one module of ``app`` that imports the layers above it, and nothing imports it.
Importing a module below registers what it declares with a decorator (``@app.agent``,
``@app.page``, ``@app.timer``, ``@app.service``); everything else is installed by ``wire``.
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
VIEWS = (views, listing, bets, history, graphql_http, stream, health, board, follower)


def wire() -> None:
    """Install what no decorator declares: rebalance hooks and services, middlewares,
    shutdown hooks, the metrics collector."""
    odds.install(app)
    sink.install(app)
    errors.install(app)
    board.install(app)
    stream.install(app)
    history.install(app)
    scrape.install()


wire()
