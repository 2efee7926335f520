"""One frozen settings object read from the environment; secrets never printed."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit


class SettingsError(ValueError):
    """A setting in the environment is missing or malformed."""


@dataclass(frozen=True)
class MySQLConfig:
    """Connection parameters parsed from ``MYSQL_DSN``; the password stays out of repr."""

    host: str
    port: int
    user: str
    database: str
    password: str = field(repr=False)

    @classmethod
    def from_dsn(cls, dsn: str) -> MySQLConfig:
        """Parse ``mysql://user:password@host:port/database``."""
        parts = urlsplit(dsn)
        if parts.scheme not in ("mysql", "mariadb") or not parts.hostname:
            raise SettingsError("MYSQL_DSN must look like mysql://user:password@host:port/db")
        database = parts.path.lstrip("/")
        if not database or not parts.username:
            raise SettingsError("MYSQL_DSN needs a user and a database name")
        try:
            port = parts.port or 3306
        except ValueError:
            # urllib's message quotes the DSN's text; a DSN can hold the password.
            raise SettingsError("MYSQL_DSN has a malformed port") from None
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            database=database,
        )

    def redacted(self) -> str:
        """Return the DSN with the password masked, safe for logs."""
        return f"mysql://{self.user}:***@{self.host}:{self.port}/{self.database}"


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise SettingsError(f"{name} must be > 0, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or choices[0]
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _path(env: Mapping[str, str], name: str) -> Path | None:
    """Return the readable file named by ``name``, or None when unset."""
    raw = env.get(name)
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file():
        raise SettingsError(f"{name} names {raw!r}, which is not a readable file")
    return path


def _secret(env: Mapping[str, str], name: str, default: str) -> str:
    """Read a secret from ``NAME`` or from the file named by ``NAME_FILE``."""
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"{name}_FILE cannot be read: {exc.strerror}") from exc
    return env.get(name, default)


def _http_url(name: str, raw: str) -> str:
    """Return ``raw``, an http(s) URL without credentials, with no trailing slash."""
    parts = urlsplit(raw)
    # The message never quotes the value: a mistyped URL can hold a credential.
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise SettingsError(f"{name} must be a plain URL: no credentials, query or fragment")
    return raw.rstrip("/")


def _json_object(env: Mapping[str, str], name: str, default: str) -> dict[str, Any]:
    raw = env.get(name) or default
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


#: The largest AMQP short (prefetch-count, heartbeat seconds).
AMQP_SHORT_MAX = 65_535


@dataclass(frozen=True)
class UofFeedConfig:
    """Where the UOF ingestor reads the feed (``UOF_AMQP_URL``); credentials out of repr."""

    host: str
    port: int
    tls: bool
    vhost: str
    username: str = field(repr=False)
    password: str = field(repr=False)
    routing_keys: tuple[str, ...] = ("#",)
    exchange: str = "unifiedfeed"
    prefetch: int = 4096
    cafile: Path | None = None
    #: Seconds between heartbeats the ingestor asks for (the broker may lower it; 0: none).
    heartbeat: int = 10
    #: Producer ids told unsubscribed whenever a queue is bound (those seen are added).
    producers: tuple[int, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str], access_token: str) -> UofFeedConfig:
        """Parse ``UOF_AMQP_URL``; without a user in it, the user is ``UOF_ACCESS_TOKEN``."""
        parts = urlsplit(_secret(env, "UOF_AMQP_URL",
                                 "amqp://odds:odds@127.0.0.1:5672/unifiedfeed"))
        # The messages never quote the URL: it can hold the access token.
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise SettingsError("UOF_AMQP_URL must look like amqps://host:port/vhost")
        try:
            port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
        except ValueError:
            raise SettingsError("UOF_AMQP_URL has a malformed port") from None
        path = unquote(parts.path)
        # Sportradar's vhosts are /unifiedfeed/{bookmaker_id}: a path of more than one
        # segment is such a name, leading slash included; one segment is a plain vhost.
        vhost = path if path.count("/") > 1 else (path.lstrip("/") or "/")
        username = unquote(parts.username or "") or access_token
        if not username:
            raise SettingsError("UOF_AMQP_URL has no user: give the access token in the URL "
                                "or as UOF_ACCESS_TOKEN (or UOF_ACCESS_TOKEN_FILE)")
        keys = tuple(k.strip() for k in env.get("UOF_ROUTING_KEYS", "#").split(",") if k.strip())
        if not keys:
            raise SettingsError("UOF_ROUTING_KEYS must name at least one routing key")
        prefetch = _int(env, "UOF_PREFETCH", 4096, minimum=1)
        if prefetch > AMQP_SHORT_MAX:  # Basic.Qos's prefetch-count is 16 bits
            raise SettingsError(f"UOF_PREFETCH must be <= {AMQP_SHORT_MAX}, got {prefetch}")
        heartbeat = _int(env, "UOF_HEARTBEAT_SECONDS", 10)
        if heartbeat > AMQP_SHORT_MAX:
            raise SettingsError(f"UOF_HEARTBEAT_SECONDS must be <= {AMQP_SHORT_MAX}, got "
                                f"{heartbeat}")
        raw_producers = env.get("UOF_PRODUCERS", "")
        try:
            producers = tuple(int(p) for p in raw_producers.split(",") if p.strip())
        except ValueError:
            raise SettingsError(f"UOF_PRODUCERS must be producer ids separated by commas, got "
                                f"{raw_producers!r}") from None
        if any(not 0 < p < 2**31 for p in producers):
            raise SettingsError(f"UOF_PRODUCERS must be positive producer ids, got "
                                f"{raw_producers!r}")
        return cls(host=parts.hostname, port=port, tls=parts.scheme == "amqps", vhost=vhost,
                   username=username, password=unquote(parts.password or ""),
                   routing_keys=keys, exchange=env.get("UOF_EXCHANGE") or "unifiedfeed",
                   prefetch=prefetch, cafile=_path(env, "UOF_AMQP_CAFILE"),
                   heartbeat=heartbeat, producers=producers)

    def redacted(self) -> str:
        """Return the broker's address without credentials, safe for logs."""
        scheme = "amqps" if self.tls else "amqp"
        return f"{scheme}://***@{self.host}:{self.port}/{quote(self.vhost, safe='')}"


BETFAIR_FIELDS = ("EX_BEST_OFFERS", "EX_TRADED", "EX_LTP", "EX_MARKET_DEF")


@dataclass(frozen=True)
class BetfairStreamConfig:
    """Where and how the Betfair ingestor subscribes; the app key and session out of repr."""

    host: str
    port: int
    cafile: Path | None
    app_key: str = field(repr=False)
    session_token: str = field(repr=False)
    market_filter: Mapping[str, Any] = field(default_factory=dict)
    ladder_levels: int = 3
    heartbeat_ms: int = 5000
    conflate_ms: int = 0
    stream_name: str = "exchange"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BetfairStreamConfig:
        """Parse ``BETFAIR_STREAM_URL`` (``tls://host:port``) and the subscription settings."""
        parts = urlsplit(env.get("BETFAIR_STREAM_URL") or "tls://stream-api.betfair.com:443")
        if parts.scheme != "tls" or not parts.hostname or parts.username or parts.path:
            raise SettingsError("BETFAIR_STREAM_URL must look like tls://host:port")
        try:
            port = parts.port or 443
        except ValueError:
            raise SettingsError("BETFAIR_STREAM_URL has a malformed port") from None
        heartbeat = _int(env, "BETFAIR_HEARTBEAT_MS", 5000, minimum=500)
        if heartbeat > 5000:
            raise SettingsError("BETFAIR_HEARTBEAT_MS must be 500 to 5000 (the API's range)")
        levels = _int(env, "BETFAIR_LADDER_LEVELS", 3, minimum=1)
        if levels > 10:
            raise SettingsError("BETFAIR_LADDER_LEVELS must be 1 to 10")
        return cls(host=parts.hostname, port=port, cafile=_path(env, "BETFAIR_STREAM_CAFILE"),
                   app_key=_secret(env, "BETFAIR_APP_KEY", ""),
                   session_token=_secret(env, "BETFAIR_SESSION_TOKEN", ""),
                   market_filter=_json_object(env, "BETFAIR_MARKET_FILTER", "{}"),
                   ladder_levels=levels, heartbeat_ms=heartbeat,
                   conflate_ms=_int(env, "BETFAIR_CONFLATE_MS", 0),
                   stream_name=env.get("BETFAIR_STREAM_NAME") or "exchange")


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client of the platform authenticates; secrets stay out of repr."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_key_password: str | None = field(default=None, repr=False)

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSecurity:
        """Read ``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*`` and ``KAFKA_SSL_*``.

        A SASL or TLS setting that the chosen protocol would ignore is an error: a deployment
        that means to authenticate or encrypt must never fall back to plaintext silently.
        """
        protocol = _choice(env, "KAFKA_SECURITY_PROTOCOL", SECURITY_PROTOCOLS)
        username = env.get("KAFKA_SASL_USERNAME") or None
        password = _secret(env, "KAFKA_SASL_PASSWORD", "") or None
        cafile = _path(env, "KAFKA_SSL_CAFILE")
        certfile = _path(env, "KAFKA_SSL_CERTFILE")
        keyfile = _path(env, "KAFKA_SSL_KEYFILE")
        key_password = _secret(env, "KAFKA_SSL_KEY_PASSWORD", "") or None
        security = cls(protocol=protocol, sasl_username=username, sasl_password=password,
                       ssl_cafile=cafile, ssl_certfile=certfile, ssl_keyfile=keyfile,
                       ssl_key_password=key_password)
        sasl_set = {"KAFKA_SASL_MECHANISM": bool(env.get("KAFKA_SASL_MECHANISM")),
                    "KAFKA_SASL_USERNAME": username is not None,
                    "KAFKA_SASL_PASSWORD": password is not None}
        tls_set = {"KAFKA_SSL_CAFILE": cafile is not None,
                   "KAFKA_SSL_CERTFILE": certfile is not None,
                   "KAFKA_SSL_KEYFILE": keyfile is not None,
                   "KAFKA_SSL_KEY_PASSWORD": key_password is not None}
        for names, used, what in ((sasl_set, security.uses_sasl, "SASL"),
                                  (tls_set, security.uses_tls, "TLS")):
            stray = [name for name, is_set in names.items() if is_set]
            if stray and not used:
                raise SettingsError(f"{', '.join(stray)} set, but KAFKA_SECURITY_PROTOCOL="
                                    f"{protocol} does not use {what}")
        if (keyfile or key_password) and not certfile:
            raise SettingsError("KAFKA_SSL_KEYFILE and KAFKA_SSL_KEY_PASSWORD need "
                                "KAFKA_SSL_CERTFILE, the client certificate")
        if not security.uses_sasl:
            return security
        if username is None or password is None:
            raise SettingsError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs "
                                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD "
                                "(or KAFKA_SASL_PASSWORD_FILE)")
        return replace(security,
                       sasl_mechanism=_choice(env, "KAFKA_SASL_MECHANISM", SASL_MECHANISMS))


@dataclass(frozen=True)
class Settings:
    """Everything the worker reads from its environment."""

    broker_url: str
    mysql: MySQLConfig
    web_host: str
    web_port: int
    datadir: Path
    app_id: str
    topic_prefix: str
    topic_partitions: int
    topic_replication: int
    store: str
    batch_size: int
    batch_within: float
    sink_batch_size: int
    sink_within: float
    sink_mode: str
    sink_web_port: int
    producer_timeout: float
    event_loop: str
    gil_switch_ms: float
    health_stall_seconds: float
    fault_stall_after_batches: int
    transaction_timeout: float
    transactional_id: str
    fault_exit_before_commit: int
    rocksdb_write_buffer_mb: int = 8
    rocksdb_block_cache_mb: int = 8
    market_cache_size: int = 65536
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    uof_api_url: str = "https://api.betradar.com"
    uof_access_token: str = field(default="", repr=False)
    recovery_retry_seconds: float = 60.0
    recovery_service: str = "on"
    max_future_skew: float = 300.0
    http_header_timeout: float = 10.0
    graphql_introspection: bool = False
    graphql_max_cost: int = 20_000
    graphql_time_budget: float = 2.0
    ingest_web_port: int = 6072
    live_bet_delay_ms: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: ``os.environ``)."""
        env = os.environ if env is None else env
        store = env.get("APP_STORE", "rocksdb://")
        if store not in ("rocksdb://", "memory://"):
            raise SettingsError(f"APP_STORE must be rocksdb:// or memory://, got {store!r}")
        app_id = env.get("APP_ID", "odds-platform")
        if not app_id or any(c.isspace() for c in app_id):
            raise SettingsError("APP_ID must be a non-empty name without spaces")
        return cls(
            broker_url=env.get("BROKER_URL", "kafka://127.0.0.1:9092"),
            mysql=MySQLConfig.from_dsn(
                _secret(env, "MYSQL_DSN", "mysql://betting:betting@127.0.0.1:3306/betting")
            ),
            web_host=env.get("WEB_HOST", "127.0.0.1"),
            web_port=_int(env, "WEB_PORT", 6066, minimum=1),
            datadir=Path(env.get("APP_DATADIR", "./data")),
            app_id=app_id,
            topic_prefix=env.get("TOPIC_PREFIX", ""),
            topic_partitions=_int(env, "TOPIC_PARTITIONS", 8, minimum=1),
            topic_replication=_int(env, "TOPIC_REPLICATION", 1, minimum=1),
            store=store,
            batch_size=_int(env, "BATCH_SIZE", 1000, minimum=1),
            batch_within=_float(env, "BATCH_WITHIN", 0.02),
            sink_batch_size=_int(env, "SINK_BATCH_SIZE", 2000, minimum=1),
            sink_within=_float(env, "SINK_WITHIN", 0.2),
            sink_mode=_choice(env, "SINK_MODE", ("inline", "separate")),
            sink_web_port=_int(env, "SINK_WEB_PORT", 6070, minimum=1),
            producer_timeout=_float(env, "PRODUCER_TIMEOUT", 20.0),
            event_loop=_choice(env, "EVENT_LOOP", ("uvloop", "asyncio")),
            gil_switch_ms=_float(env, "GIL_SWITCH_MS", 5.0),
            health_stall_seconds=_float(env, "HEALTH_STALL_SECONDS", 60.0),
            fault_stall_after_batches=_int(env, "FAULT_STALL_AGENT_AFTER", 0),
            transaction_timeout=_float(env, "TRANSACTION_TIMEOUT", 10.0),
            transactional_id=env.get("TRANSACTIONAL_ID", ""),
            fault_exit_before_commit=_int(env, "FAULT_EXIT_BEFORE_COMMIT", 0),
            rocksdb_write_buffer_mb=_int(env, "ROCKSDB_WRITE_BUFFER_MB", 8, minimum=1),
            rocksdb_block_cache_mb=_int(env, "ROCKSDB_BLOCK_CACHE_MB", 8, minimum=1),
            market_cache_size=_int(env, "MARKET_CACHE_SIZE", 65536, minimum=0),
            kafka_security=KafkaSecurity.from_env(env),
            uof_api_url=_http_url("UOF_API_URL",
                                  env.get("UOF_API_URL", "https://api.betradar.com")),
            uof_access_token=_secret(env, "UOF_ACCESS_TOKEN", ""),
            recovery_retry_seconds=_float(env, "RECOVERY_RETRY_SECONDS", 60.0),
            recovery_service=_choice(env, "RECOVERY_SERVICE", ("on", "off")),
            max_future_skew=_float(env, "MAX_FUTURE_SKEW", 300.0),
            http_header_timeout=_float(env, "HTTP_HEADER_TIMEOUT", 10.0),
            graphql_introspection=_choice(env, "GRAPHQL_INTROSPECTION",
                                          ("false", "true")) == "true",
            graphql_max_cost=_int(env, "GRAPHQL_MAX_COST", 20_000, minimum=1),
            graphql_time_budget=_float(env, "GRAPHQL_TIME_BUDGET", 2.0),
            ingest_web_port=_int(env, "INGEST_WEB_PORT", 6072, minimum=1),
            live_bet_delay_ms=_int(env, "LIVE_BET_DELAY_MS", 0),
        )

    def rocksdb_options(self) -> dict[str, int]:
        """Per partition database: Faust's defaults (64 MiB x 3 memtables, a 2 GiB block
        cache) are sized for one database, and a worker opens one per table and partition."""
        mib = 1024 * 1024
        return {"write_buffer_size": self.rocksdb_write_buffer_mb * mib,
                "max_write_buffer_number": 2,
                "block_cache_size": self.rocksdb_block_cache_mb * mib}

    def topic(self, name: str) -> str:
        """Return the full topic name for ``name`` with the configured prefix."""
        return f"{self.topic_prefix}{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings.from_env()
