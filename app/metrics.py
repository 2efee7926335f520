"""The platform's Prometheus metrics, defined in one place."""

from __future__ import annotations

from prometheus_client import PLATFORM_COLLECTOR, REGISTRY, Counter, Gauge, Histogram

# Not exported: python_info, whose labels give the exact Python version (the image pins it;
# a scrape need not tell anyone which interpreter bugs apply). Process and GC metrics stay.
REGISTRY.unregister(PLATFORM_COLLECTOR)

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
#: Seconds, for a feed batch and its parts (planning, the transaction wait).
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_SECONDS = Histogram(
    "odds_batch_processing_seconds",
    "Time to apply one feed batch, publish it and write the tables.",
    buckets=BATCH_BUCKETS,
)
BATCH_MESSAGES = Histogram(
    "odds_batch_messages",
    "Feed messages in one batch of the odds agent (at most BATCH_SIZE).",
    # 999 and 1,000 tell full batches apart at the default BATCH_SIZE.
    buckets=(1, 10, 50, 100, 250, 500, 750, 999, 1000, 2500, 5000),
)
SINK_ROWS = Counter("odds_sink_rows_total", "Rows upserted into MySQL, by table.", ["table"])
SINK_ERRORS = Counter("odds_sink_errors_total", "MySQL sink write attempts that failed.")
TRANSACTION_FAILURES = Counter(
    "odds_transaction_failures_total",
    "Batch transactions that failed and were retried with a new producer, by error.", ["error"])
PLAN_SECONDS = Histogram(
    "odds_batch_planning_seconds",
    "Time to plan one feed batch and stage its outbound records and table values.",
    buckets=BATCH_BUCKETS,
)
TRANSACTION_SECONDS = Histogram(
    "odds_transaction_seconds",
    "Time a feed batch waits for its outbound transaction: sends, acknowledgements, commit.",
    buckets=BATCH_BUCKETS,
)
GC_PAUSE_SECONDS = Histogram(
    "odds_gc_pause_seconds",
    "Time the garbage collector held the process (every thread) for one collection, by"
    " generation.",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SINK_BATCH_SECONDS = Histogram(
    "odds_sink_batch_seconds",
    "Time to write one sink batch to MySQL.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
E2E_LATENCY = Histogram(
    "odds_end_to_end_latency_seconds",
    "From a feed message's source ts to its market snapshot acknowledged on markets.v1.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
#: Later observations are recorded as this. A replayed recorded feed (its ts hours or years
#: old) would otherwise grow the histogram's float sum so far that each later observation of
#: a few ms rounds away in it, and the mean read from the sum goes wrong (docs/decisions/0013).
E2E_CAP_SECONDS = 3600.0


def observe_end_to_end(seconds: float) -> None:
    """Record one feed ts to publish latency, clamped to [0, ``E2E_CAP_SECONDS``]."""
    E2E_LATENCY.observe(min(E2E_CAP_SECONDS, max(0.0, seconds)))


MESSAGE_SECONDS = Histogram(
    "odds_message_processing_seconds",
    "Time to process one feed message (a batch's time divided by its size).",
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
)
SINK_BATCH_SIZE = Histogram(
    "odds_sink_batch_size",
    "Records in one MySQL sink batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000),
)
READ_MODEL_RECORDS = Counter(
    "odds_read_model_records_total",
    "Outbound records applied to this worker's replicated read model, by topic.",
    ["topic"],
)
STREAM_CLIENTS = Gauge("odds_stream_clients", "Server-Sent Events clients connected to /stream.")
STREAM_RESETS = Counter(
    "odds_stream_resets_total",
    "Times /stream told a client to refetch: its position was older than the buffer held.",
)
GRAPHQL_REQUESTS = Counter(
    "odds_graphql_requests_total",
    "GraphQL requests by outcome (ok, error, bad_request, too_costly, timeout, busy, too_large).",
    ["outcome"],
)
SEND_FAILURES = Counter(
    "odds_send_failures_total",
    "Records Faust failed to send (agent output, table changelogs); the first stops the "
    "worker before its next commit.",
)
RECOVERY_REQUESTS = Counter(
    "odds_recovery_requests_total",
    "Recovery requests to the UOF API by producer and outcome (sent, failed, skipped).",
    ["producer", "outcome"],
)
UNKNOWN_GROUPS = Counter(
    "odds_bet_stop_unknown_groups_total",
    "Market-group names in bet_stop messages that no description or group map knows "
    "(they suspend nothing).")
UNNAMED_MARKETS = Gauge(
    "odds_markets_without_description",
    "Market ids this worker has published without a description, so without names.")
INGEST_MESSAGES = Counter(
    "odds_ingest_messages_total",
    "Provider messages an ingestor received, by provider.", ["provider"])
INGEST_ACKED = Counter(
    "odds_ingest_acked_total",
    "Records an ingestor saw acknowledged by Kafka (provider messages and its own notices,"
    " e.g. the UOF ingestor's unsubscribed alives after a reconnection), by provider.",
    ["provider"])
INGEST_UNKEYED = Counter(
    "odds_ingest_unkeyed_total",
    "Provider messages an ingestor could not key (sent keyed 'unkeyed'), by provider.",
    ["provider"])
INGEST_DROPPED = Counter(
    "odds_ingest_dropped_total",
    "Provider messages no raw topic could take (too large), logged and dropped, by provider.",
    ["provider"])
INGEST_RECONNECTS = Counter(
    "odds_ingest_reconnects_total",
    "Connections to the provider an ingestor lost or could not open, by provider.",
    ["provider"])
INGEST_PROVIDER_ERRORS = Counter(
    "odds_ingest_provider_errors_total",
    "Error statuses the provider sent, by provider and code.", ["provider", "code"])
INGEST_CONNECTED = Gauge(
    "odds_ingest_connected", "1 while the ingestor holds a subscribed provider connection.",
    ["provider"])
INGEST_LAG = Histogram(
    "odds_ingest_lag_seconds",
    "From a provider message's own timestamp to its receipt by the ingestor, by provider.",
    ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))
