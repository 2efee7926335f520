"""One frozen settings object read from the environment; secrets never printed.

Each setting is declared once, as a field of a pydantic-settings model: ``env.get(NAME,
default, **constraints)`` for a plain variable, ``_secret(env, NAME, default)`` for a secret,
which can also come from the file the variable ``NAME_FILE`` names (the file wins when both are
set). The type and constraints of the field are the validation; a failure is a
:class:`SettingsError` that names the variable and never quotes a secret. An empty variable
counts as unset (the default), except for the fields declared ``keep_blank=True``, whose empty
value is taken as given (and may be an error, such as an empty ``MYSQL_DSN``).

The README's settings tables document every field; ``tests/unit/test_settings_readme.py``
checks them against these models. ``tests/deploy`` parses the ``env.get`` and ``_secret``
calls here to learn which variables the app reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import quote, unquote, urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class SettingsError(ValueError):
    """A setting in the environment is missing or malformed."""


# --- declaring a field ------------------------------------------------------------------------


class _Variables:
    """Declares the environment variable a settings field is read from (see ``env``)."""

    @staticmethod
    def get(name: str, default: Any, *, keep_blank: bool = False, **constraints: Any) -> Any:
        """The field read from ``name``, ``default`` when unset; ``constraints`` as Field's."""
        return Field(default, validation_alias=name,
                     json_schema_extra={"keep_blank": keep_blank}, **constraints)


#: ``env.get("WEB_PORT", 6066, ge=1)`` declares the field read from ``WEB_PORT``.
env = _Variables()


def _secret(variables: _Variables, name: str, default: str | None, *,
            keep_blank: bool = False) -> Any:
    """A secret field read from ``name`` or from the file ``name_FILE`` names."""
    return variables.get(name, default, keep_blank=keep_blank)


def _is_secret(info: FieldInfo) -> bool:
    return info.annotation in (SecretStr, SecretStr | None)


def _keeps_blank(info: FieldInfo) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and extra.get("keep_blank") is True


class _EnvSource(PydanticBaseSettingsSource):
    """Each field's variable from ``env``; a secret's from the file ``NAME_FILE`` names."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = str(field.validation_alias)
        raw = self.env.get(name)
        path = self.env.get(f"{name}_FILE") if _is_secret(field) else None
        if path:
            try:
                raw = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(f"{name}_FILE cannot be read: {exc.strerror}") from None
        if raw == "" and not _keeps_blank(field):
            raw = None
        return raw, name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, info in self.settings_cls.model_fields.items():
            raw, name, _ = self.get_field_value(info, field_name)
            if raw is not None:
                values[name] = raw
        return values


class _EnvSettings(BaseSettings):
    """A frozen model read by :class:`_EnvSource`; validation errors become SettingsError."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _EnvSource(settings_cls, os.environ)

    @classmethod
    def _read(cls, env: Mapping[str, str] | None) -> Any:
        source = _EnvSource(cls, os.environ if env is None else env)
        try:
            # BaseSettings.__init__ takes _build_sources; the __init__ mypy synthesizes from
            # the fields does not list it.
            return cls(_build_sources=((source,), {}))  # type: ignore[call-arg]
        except ValidationError as exc:
            raise SettingsError(_explain(cls, exc)) from None


_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}


def _explain(model: type[BaseSettings], exc: ValidationError) -> str:
    """Say which variable is wrong and why; quote the value only when it is no secret."""
    error = exc.errors(include_url=False)[0]
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, SettingsError):  # raised by a validator here, naming its variables
        return str(cause)
    name = str(error["loc"][0]) if error["loc"] else model.__name__
    secrets = {str(i.validation_alias) for i in model.model_fields.values() if _is_secret(i)}
    got = "" if name in secrets else f", got {error['input']!r}"
    number = "" if name in secrets else f", got {error['input']}"  # a number, not quoted
    kind = error["type"]
    if kind == "int_parsing":
        return f"{name} must be an integer{got}"
    if kind == "float_parsing":
        return f"{name} must be a number{got}"
    if kind in _BOUNDS:
        symbol, key = _BOUNDS[kind]
        return f"{name} must be {symbol} {ctx[key]:g}{number}"
    if kind == "literal_error":
        info = next(i for i in model.model_fields.values() if i.validation_alias == name)
        return f"{name} must be one of {', '.join(get_args(info.annotation))}{got}"
    if isinstance(cause, ValueError):
        return f"{name} {cause}"
    return f"{name}: {error['msg']}"


# --- field types -------------------------------------------------------------------------------


def _readable_file(path: Path | None) -> Path | None:
    if path is not None and not path.is_file():
        raise ValueError(f"names {str(path)!r}, which is not a readable file")
    return path


#: A file the setting names, which must exist when set.
ReadableFile = Annotated[Path, AfterValidator(_readable_file)]


def _true_or_false(value: object) -> object:
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, bool):
        return value
    raise ValueError(f"must be one of false, true, got {value!r}")


#: ``true`` or ``false``, nothing else.
TrueOrFalse = Annotated[bool, BeforeValidator(_true_or_false)]


def _json_object(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ValueError(f"must be a JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"must be a JSON object, got {type(parsed).__name__}")
    return parsed


#: A JSON object given as text.
JsonObject = Annotated[dict[str, Any], BeforeValidator(_json_object)]


def _http_url(raw: str) -> str:
    """Return ``raw``, an http(s) URL without credentials, with no trailing slash."""
    parts = urlsplit(raw)
    # The messages never quote the value: a mistyped URL can hold a credential.
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must be a plain URL: no credentials, query or fragment")
    return raw.rstrip("/")


#: An http(s) URL without credentials, query or fragment; trailing slashes dropped.
HttpUrl = Annotated[str, AfterValidator(_http_url)]


def _app_id(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError("must be a non-empty name without spaces")
    return value


# --- what the settings build ------------------------------------------------------------------


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

    def connect_kwargs(self) -> dict[str, Any]:
        """The arguments of ``aiomysql.connect`` / ``create_pool`` for this database."""
        return {"host": self.host, "port": self.port, "user": self.user,
                "password": self.password, "db": self.database, "charset": "utf8mb4"}


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


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
        """Read ``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*`` and ``KAFKA_SSL_*``."""
        return Settings.from_env(env).kafka_security


def _plain(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


# --- the worker's settings --------------------------------------------------------------------


class Settings(_EnvSettings):
    """Everything the worker reads from its environment."""

    broker_url: str = env.get("BROKER_URL", "kafka://127.0.0.1:9092", keep_blank=True)
    mysql_dsn: SecretStr = _secret(env, "MYSQL_DSN",
                                   "mysql://betting:betting@127.0.0.1:3306/betting",
                                   keep_blank=True)
    web_host: str = env.get("WEB_HOST", "127.0.0.1", keep_blank=True)
    web_port: int = env.get("WEB_PORT", 6066, ge=1)
    datadir: Path = env.get("APP_DATADIR", "./data", keep_blank=True)
    app_id: Annotated[str, AfterValidator(_app_id)] = env.get("APP_ID", "odds-platform",
                                                              keep_blank=True)
    topic_prefix: str = env.get("TOPIC_PREFIX", "")
    topic_partitions: int = env.get("TOPIC_PARTITIONS", 8, ge=1)
    topic_replication: int = env.get("TOPIC_REPLICATION", 1, ge=1)
    store: Literal["rocksdb://", "memory://"] = env.get("APP_STORE", "rocksdb://",
                                                        keep_blank=True)
    batch_size: int = env.get("BATCH_SIZE", 1000, ge=1)
    batch_within: float = env.get("BATCH_WITHIN", 0.02, gt=0)
    sink_batch_size: int = env.get("SINK_BATCH_SIZE", 2000, ge=1)
    sink_within: float = env.get("SINK_WITHIN", 0.2, gt=0)
    sink_mode: Literal["inline", "separate"] = env.get("SINK_MODE", "inline")
    sink_web_port: int = env.get("SINK_WEB_PORT", 6070, ge=1)
    producer_timeout: float = env.get("PRODUCER_TIMEOUT", 20.0, gt=0)
    event_loop: Literal["uvloop", "asyncio"] = env.get("EVENT_LOOP", "uvloop")
    gil_switch_ms: float = env.get("GIL_SWITCH_MS", 5.0, gt=0)
    health_stall_seconds: float = env.get("HEALTH_STALL_SECONDS", 60.0, gt=0)
    fault_stall_after_batches: int = env.get("FAULT_STALL_AGENT_AFTER", 0, ge=0)
    transaction_timeout: float = env.get("TRANSACTION_TIMEOUT", 10.0, gt=0)
    transactional_id: str = env.get("TRANSACTIONAL_ID", "")
    fault_exit_before_commit: int = env.get("FAULT_EXIT_BEFORE_COMMIT", 0, ge=0)
    rocksdb_write_buffer_mb: int = env.get("ROCKSDB_WRITE_BUFFER_MB", 8, ge=1)
    rocksdb_block_cache_mb: int = env.get("ROCKSDB_BLOCK_CACHE_MB", 8, ge=1)
    market_cache_size: int = env.get("MARKET_CACHE_SIZE", 65536, ge=0)
    kafka_security_protocol: SecurityProtocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    kafka_sasl_mechanism: SaslMechanism = env.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    kafka_sasl_username: str | None = env.get("KAFKA_SASL_USERNAME", None)
    kafka_sasl_password: SecretStr | None = _secret(env, "KAFKA_SASL_PASSWORD", None)
    kafka_ssl_cafile: ReadableFile | None = env.get("KAFKA_SSL_CAFILE", None)
    kafka_ssl_certfile: ReadableFile | None = env.get("KAFKA_SSL_CERTFILE", None)
    kafka_ssl_keyfile: ReadableFile | None = env.get("KAFKA_SSL_KEYFILE", None)
    kafka_ssl_key_password: SecretStr | None = _secret(env, "KAFKA_SSL_KEY_PASSWORD", None)
    uof_api_url: HttpUrl = env.get("UOF_API_URL", "https://api.betradar.com", keep_blank=True)
    uof_token: SecretStr = _secret(env, "UOF_ACCESS_TOKEN", "")
    recovery_retry_seconds: float = env.get("RECOVERY_RETRY_SECONDS", 60.0, gt=0)
    recovery_service: Literal["on", "off"] = env.get("RECOVERY_SERVICE", "on")
    max_future_skew: float = env.get("MAX_FUTURE_SKEW", 300.0, gt=0)
    http_header_timeout: float = env.get("HTTP_HEADER_TIMEOUT", 10.0, gt=0)
    graphql_introspection: TrueOrFalse = env.get("GRAPHQL_INTROSPECTION", False)
    graphql_max_cost: int = env.get("GRAPHQL_MAX_COST", 20_000, ge=1)
    graphql_time_budget: float = env.get("GRAPHQL_TIME_BUDGET", 2.0, gt=0)
    ingest_web_port: int = env.get("INGEST_WEB_PORT", 6072, ge=1)
    live_bet_delay_ms: int = env.get("LIVE_BET_DELAY_MS", 0, ge=0)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: ``os.environ``)."""
        settings: Settings = cls._read(env)
        return settings

    @model_validator(mode="after")
    def _check(self) -> Settings:
        """Parse the DSN and check the Kafka security combination, so both fail at start."""
        self.mysql  # noqa: B018 - parsed now: a malformed DSN is a start-up error
        self._check_kafka_security()
        return self

    def _check_kafka_security(self) -> None:
        """A SASL or TLS setting that the chosen protocol would ignore is an error: a deployment
        that means to authenticate or encrypt must never fall back to plaintext silently."""
        given = self.model_fields_set
        security = self.kafka_security
        protocol = security.protocol
        sasl_set = {"KAFKA_SASL_MECHANISM": "kafka_sasl_mechanism" in given,
                    "KAFKA_SASL_USERNAME": security.sasl_username is not None,
                    "KAFKA_SASL_PASSWORD": security.sasl_password is not None}
        tls_set = {"KAFKA_SSL_CAFILE": security.ssl_cafile is not None,
                   "KAFKA_SSL_CERTFILE": security.ssl_certfile is not None,
                   "KAFKA_SSL_KEYFILE": security.ssl_keyfile is not None,
                   "KAFKA_SSL_KEY_PASSWORD": security.ssl_key_password is not None}
        for names, used, what in ((sasl_set, security.uses_sasl, "SASL"),
                                  (tls_set, security.uses_tls, "TLS")):
            stray = [name for name, is_set in names.items() if is_set]
            if stray and not used:
                raise SettingsError(f"{', '.join(stray)} set, but KAFKA_SECURITY_PROTOCOL="
                                    f"{protocol} does not use {what}")
        if (security.ssl_keyfile or security.ssl_key_password) and not security.ssl_certfile:
            raise SettingsError("KAFKA_SSL_KEYFILE and KAFKA_SSL_KEY_PASSWORD need "
                                "KAFKA_SSL_CERTFILE, the client certificate")
        if security.uses_sasl and (security.sasl_username is None
                                   or security.sasl_password is None):
            raise SettingsError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs "
                                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD "
                                "(or KAFKA_SASL_PASSWORD_FILE)")

    @cached_property
    def mysql(self) -> MySQLConfig:
        """``MYSQL_DSN``'s parts; the password stays out of repr."""
        return MySQLConfig.from_dsn(self.mysql_dsn.get_secret_value())

    @cached_property
    def kafka_security(self) -> KafkaSecurity:
        """The ``KAFKA_*`` settings, as every Kafka client of the platform uses them."""
        protocol = self.kafka_security_protocol
        uses_sasl = protocol in ("SASL_PLAINTEXT", "SASL_SSL")
        return KafkaSecurity(
            protocol=protocol, sasl_mechanism=self.kafka_sasl_mechanism if uses_sasl else None,
            sasl_username=self.kafka_sasl_username, sasl_password=_plain(self.kafka_sasl_password),
            ssl_cafile=self.kafka_ssl_cafile, ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_key_password=_plain(self.kafka_ssl_key_password))

    @property
    def uof_access_token(self) -> str:
        """``UOF_ACCESS_TOKEN`` as text, for the header that sends it."""
        return self.uof_token.get_secret_value()

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


# --- the live feed ingestors ------------------------------------------------------------------

#: The largest AMQP short (prefetch-count, heartbeat seconds).
AMQP_SHORT_MAX = 65_535


def _producer_ids(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        ids = tuple(int(p) for p in value.split(",") if p.strip())
    except ValueError:
        raise ValueError(f"must be producer ids separated by commas, got {value!r}") from None
    if any(not 0 < p < 2**31 for p in ids):
        raise ValueError(f"must be positive producer ids, got {value!r}")
    return ids


def _routing_keys(value: object) -> object:
    if not isinstance(value, str):
        return value
    keys = tuple(k.strip() for k in value.split(",") if k.strip())
    if not keys:
        raise ValueError("must name at least one routing key")
    return keys


class UofEnv(_EnvSettings):
    """The UOF ingestor's variables, as given; :class:`UofFeedConfig` is what it uses."""

    amqp_url: SecretStr = _secret(env, "UOF_AMQP_URL",
                                  "amqp://odds:odds@127.0.0.1:5672/unifiedfeed", keep_blank=True)
    routing_keys: Annotated[tuple[str, ...], BeforeValidator(_routing_keys)] = env.get(
        "UOF_ROUTING_KEYS", "#", keep_blank=True)
    exchange: str = env.get("UOF_EXCHANGE", "unifiedfeed")
    # Basic.Qos's prefetch-count is 16 bits.
    prefetch: int = env.get("UOF_PREFETCH", 4096, ge=1, le=AMQP_SHORT_MAX)
    heartbeat: int = env.get("UOF_HEARTBEAT_SECONDS", 10, ge=0, le=AMQP_SHORT_MAX)
    producers: Annotated[tuple[int, ...], BeforeValidator(_producer_ids)] = env.get(
        "UOF_PRODUCERS", "")
    cafile: ReadableFile | None = env.get("UOF_AMQP_CAFILE", None)


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
        given: UofEnv = UofEnv._read(env)
        parts = urlsplit(given.amqp_url.get_secret_value())
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
        return cls(host=parts.hostname, port=port, tls=parts.scheme == "amqps", vhost=vhost,
                   username=username, password=unquote(parts.password or ""),
                   routing_keys=given.routing_keys, exchange=given.exchange,
                   prefetch=given.prefetch, cafile=given.cafile, heartbeat=given.heartbeat,
                   producers=given.producers)

    def redacted(self) -> str:
        """Return the broker's address without credentials, safe for logs."""
        scheme = "amqps" if self.tls else "amqp"
        return f"{scheme}://***@{self.host}:{self.port}/{quote(self.vhost, safe='')}"


BETFAIR_FIELDS = ("EX_BEST_OFFERS", "EX_TRADED", "EX_LTP", "EX_MARKET_DEF")


def _between(low: int, high: int, note: str = "") -> Callable[[int], int]:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be {low} to {high}{note}, got {value}")
        return value
    return check


class BetfairEnv(_EnvSettings):
    """The Betfair ingestor's variables, as given; :class:`BetfairStreamConfig` is what it
    uses."""

    stream_url: str = env.get("BETFAIR_STREAM_URL", "tls://stream-api.betfair.com:443")
    cafile: ReadableFile | None = env.get("BETFAIR_STREAM_CAFILE", None)
    app_key: SecretStr = _secret(env, "BETFAIR_APP_KEY", "")
    session_token: SecretStr = _secret(env, "BETFAIR_SESSION_TOKEN", "")
    market_filter: JsonObject = env.get("BETFAIR_MARKET_FILTER", "{}")
    ladder_levels: Annotated[int, AfterValidator(_between(1, 10))] = env.get(
        "BETFAIR_LADDER_LEVELS", 3)
    heartbeat_ms: Annotated[int, AfterValidator(_between(500, 5000, " (the API's range)"))] = (
        env.get("BETFAIR_HEARTBEAT_MS", 5000))
    conflate_ms: int = env.get("BETFAIR_CONFLATE_MS", 0, ge=0)
    stream_name: str = env.get("BETFAIR_STREAM_NAME", "exchange")


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
        given: BetfairEnv = BetfairEnv._read(env)
        parts = urlsplit(given.stream_url)
        if parts.scheme != "tls" or not parts.hostname or parts.username or parts.path:
            raise SettingsError("BETFAIR_STREAM_URL must look like tls://host:port")
        try:
            port = parts.port or 443
        except ValueError:
            raise SettingsError("BETFAIR_STREAM_URL has a malformed port") from None
        return cls(host=parts.hostname, port=port, cafile=given.cafile,
                   app_key=given.app_key.get_secret_value(),
                   session_token=given.session_token.get_secret_value(),
                   market_filter=given.market_filter, ladder_levels=given.ladder_levels,
                   heartbeat_ms=given.heartbeat_ms, conflate_ms=given.conflate_ms,
                   stream_name=given.stream_name)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings.from_env()
