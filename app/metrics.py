"""The platform's Prometheus metrics, defined in one place."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MESSAGES_IN = Counter(
    "odds_feed_messages_total", "Feed messages decoded, by message type and producer.",
    ["type", "producer"],
)
MARKET_UPDATES = Counter(
    "odds_market_updates_total",
    "Market updates by verdict (applied, stale, duplicate, unchanged, ignored) and dead"
    " letters.",
    ["verdict"],
)
BATCH_SECONDS = Histogram(
    "odds_batch_processing_seconds",
    "Time to apply one feed batch, publish it and write the tables.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SINK_ROWS = Counter("odds_sink_rows_total", "Rows upserted into MySQL, by table.", ["table"])
SINK_ERRORS = Counter("odds_sink_errors_total", "MySQL sink write attempts that failed.")
SINK_BATCH_SECONDS = Histogram(
    "odds_sink_batch_seconds",
    "Time to write one sink batch to MySQL.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
