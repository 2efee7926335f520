import re
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from config.settings import (
    BetfairStreamConfig,
    KafkaSecurity,
    MySQLConfig,
    Settings,
    SettingsError,
)


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.broker_url == "kafka://127.0.0.1:9092"
    assert s.web_port == 6066
    assert s.topic_partitions == 8
    assert s.mysql.database == "betting"
    assert s.topic("feed.v1") == "feed.v1"


def test_prefix_and_overrides() -> None:
    s = Settings.from_env({"TOPIC_PREFIX": "t1.", "WEB_PORT": "7000", "APP_ID": "x",
                           "TOPIC_PARTITIONS": "3", "APP_DATADIR": "/d"})
    assert s.topic("markets.v1") == "t1.markets.v1"
    assert (s.web_port, s.app_id, s.topic_partitions, s.datadir) == (7000, "x", 3, Path("/d"))


def test_password_never_in_repr() -> None:
    cfg = MySQLConfig.from_dsn("mysql://u:s3cr%40t@db:3307/odds")
    assert cfg.password == "s3cr@t"
    assert (cfg.host, cfg.port, cfg.user, cfg.database) == ("db", 3307, "u", "odds")
    assert "s3cr" not in repr(cfg)
    assert "s3cr" not in repr(Settings.from_env({"MYSQL_DSN": "mysql://u:s3cr@db/odds"}))
    assert cfg.redacted() == "mysql://u:***@db:3307/odds"


def test_secret_from_file(tmp_path: Path) -> None:
    f = tmp_path / "dsn"
    f.write_text("mysql://a:b@h:1/d\n")
    assert Settings.from_env({"MYSQL_DSN_FILE": str(f)}).mysql.password == "b"


@pytest.mark.parametrize(
    "env",
    [{"WEB_PORT": "x"}, {"TOPIC_PARTITIONS": "0"}, {"MYSQL_DSN": "postgres://a@b/c"},
     {"MYSQL_DSN": "mysql://h"}, {"APP_STORE": "rocksdict://"}, {"BATCH_WITHIN": "-1"},
     {"MYSQL_DSN_FILE": "/nonexistent/file"}, {"APP_ID": "a b"}, {"GIL_SWITCH_MS": "0"},
     {"MARKET_CACHE_SIZE": "-1"}, {"MARKET_CACHE_SIZE": "64k"}],
)
def test_bad_settings_are_clear_errors(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


def test_rocksdb_options_are_sized_per_partition_database() -> None:
    mib = 1024 * 1024
    assert Settings.from_env({}).rocksdb_options() == {
        "write_buffer_size": 8 * mib, "max_write_buffer_number": 2, "block_cache_size": 8 * mib}
    tuned = Settings.from_env({"ROCKSDB_WRITE_BUFFER_MB": "4", "ROCKSDB_BLOCK_CACHE_MB": "32"})
    assert tuned.rocksdb_options()["write_buffer_size"] == 4 * mib
    assert tuned.rocksdb_options()["block_cache_size"] == 32 * mib
    with pytest.raises(SettingsError):
        Settings.from_env({"ROCKSDB_WRITE_BUFFER_MB": "0"})


def test_market_cache_size_from_the_environment() -> None:
    assert Settings.from_env({}).market_cache_size == 65536
    assert Settings.from_env({"MARKET_CACHE_SIZE": "0"}).market_cache_size == 0
    assert Settings.from_env({"MARKET_CACHE_SIZE": "1000"}).market_cache_size == 1000


def test_the_app_sets_the_gil_switch_interval() -> None:
    import os
    import subprocess
    import sys

    assert Settings.from_env({}).gil_switch_ms == 5.0
    assert Settings.from_env({"GIL_SWITCH_MS": "2"}).gil_switch_ms == 2.0
    # In a child: the default equals Python's own, so only another value shows the call.
    probe = "import sys, app.faust_app; print(sys.getswitchinterval())"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           env={**os.environ, "GIL_SWITCH_MS": "2"}, check=True, timeout=60)
    assert float(found.stdout.split()[-1]) == pytest.approx(0.002)


def test_recovery_service_settings() -> None:
    s = Settings.from_env({})
    assert s.uof_api_url == "https://api.betradar.com"
    assert (s.uof_access_token, s.recovery_retry_seconds, s.recovery_service) == ("", 60.0, "on")
    s = Settings.from_env({"UOF_API_URL": "http://127.0.0.1:8080/uof/", "RECOVERY_SERVICE": "off",
                           "UOF_ACCESS_TOKEN": "tok3n", "RECOVERY_RETRY_SECONDS": "2.5"})
    assert s.uof_api_url == "http://127.0.0.1:8080/uof"
    assert (s.uof_access_token, s.recovery_retry_seconds, s.recovery_service) == (
        "tok3n", 2.5, "off")


def test_uof_token_from_file_and_never_in_repr(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text("fr0m-file\n")
    s = Settings.from_env({"UOF_ACCESS_TOKEN_FILE": str(f)})
    assert s.uof_access_token == "fr0m-file"
    assert "fr0m" not in repr(s)
    assert "tok3n" not in repr(Settings.from_env({"UOF_ACCESS_TOKEN": "tok3n"}))


@pytest.mark.parametrize(
    "env",
    [{"UOF_API_URL": "api.betradar.com"}, {"UOF_API_URL": "ftp://api.betradar.com"},
     {"UOF_API_URL": "https://"}, {"UOF_API_URL": ""},
     {"UOF_API_URL": "https://user:s3cr@api.betradar.com"},
     {"UOF_API_URL": "https://api.betradar.com?token=s3cr"},
     {"UOF_ACCESS_TOKEN_FILE": "/nonexistent/token"}, {"RECOVERY_RETRY_SECONDS": "0"},
     {"RECOVERY_RETRY_SECONDS": "soon"}, {"RECOVERY_SERVICE": "yes"}],
)
def test_bad_recovery_settings_are_clear_errors(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert "s3cr" not in str(raised.value)


def test_betfair_credentials_never_in_repr(tmp_path: Path) -> None:
    session = tmp_path / "session"
    session.write_text("sess-9f3a\n")
    cfg = BetfairStreamConfig.from_env({
        "BETFAIR_APP_KEY": "appkey-77c1", "BETFAIR_SESSION_TOKEN_FILE": str(session),
        "BETFAIR_MARKET_FILTER": '{"eventTypeIds": ["7"]}'})
    assert (cfg.app_key, cfg.session_token) == ("appkey-77c1", "sess-9f3a")
    assert cfg.market_filter == {"eventTypeIds": ["7"]}
    assert "appkey-77c1" not in repr(cfg) and "sess-9f3a" not in repr(cfg)


@pytest.mark.parametrize(("env", "problem"), [
    ({"BETFAIR_STREAM_URL": "https://stream-api.betfair.com"}, "tls://host:port"),
    ({"BETFAIR_MARKET_FILTER": "[1, 2]"}, "JSON object"),
    ({"BETFAIR_MARKET_FILTER": "{eventTypeIds"}, "JSON object"),
    ({"BETFAIR_HEARTBEAT_MS": "60000"}, "500 to 5000"),
    ({"BETFAIR_LADDER_LEVELS": "11"}, "1 to 10"),
])
def test_bad_betfair_settings(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        BetfairStreamConfig.from_env(env)


@pytest.mark.parametrize(("env", "message"), [
    ({"WEB_PORT": "x"}, "WEB_PORT must be an integer, got 'x'"),
    ({"WEB_PORT": "0"}, "WEB_PORT must be >= 1, got 0"),
    ({"BATCH_WITHIN": "-1"}, "BATCH_WITHIN must be > 0, got -1"),
    ({"SINK_WITHIN": "soon"}, "SINK_WITHIN must be a number, got 'soon'"),
    ({"SINK_MODE": "both"}, "SINK_MODE must be one of inline, separate, got 'both'"),
    ({"APP_STORE": "rocksdict://"}, "APP_STORE must be one of rocksdb://, memory://"),
    ({"APP_ID": "a b"}, "APP_ID must be a non-empty name without spaces"),
    ({"GRAPHQL_INTROSPECTION": "yes"}, "GRAPHQL_INTROSPECTION must be one of false, true"),
    ({"UOF_API_URL": "ftp://x"}, "UOF_API_URL must be an http:// or https:// URL"),
    ({"KAFKA_SSL_CAFILE": "/nonexistent/ca"}, "KAFKA_SSL_CAFILE names '/nonexistent/ca', which "
                                              "is not a readable file"),
    ({"MYSQL_DSN_FILE": "/nonexistent/dsn"}, "MYSQL_DSN_FILE cannot be read"),
])
def test_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value).startswith(message)
    assert raised.value.__cause__ is None  # pydantic's error quotes every input, secrets too


def test_a_blank_variable_is_unset_unless_blank_is_a_value() -> None:
    s = Settings.from_env({"WEB_PORT": "", "SINK_MODE": "", "KAFKA_SASL_USERNAME": "",
                           "KAFKA_SSL_CAFILE": "", "WEB_HOST": "", "TOPIC_PREFIX": ""})
    assert (s.web_port, s.sink_mode, s.kafka_security) == (6066, "inline", KafkaSecurity())
    assert (s.web_host, s.topic_prefix) == ("", "")
    for name in ("MYSQL_DSN", "APP_ID", "APP_STORE", "UOF_API_URL"):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: ""})


def test_secrets_are_secret_str_and_their_file_wins(tmp_path: Path) -> None:
    f = tmp_path / "key-password"
    f.write_text("k3y\n")
    s = Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": __file__,
                           "KAFKA_SSL_KEY_PASSWORD": "other", "KAFKA_SSL_KEY_PASSWORD_FILE": str(f),
                           "UOF_ACCESS_TOKEN": "t0k", "MYSQL_DSN": "mysql://u:pw@h/d"})
    assert s.kafka_security.ssl_key_password == "k3y"
    for secret in (s.kafka_ssl_key_password, s.uof_token, s.mysql_dsn):
        assert isinstance(secret, SecretStr)
    assert (s.uof_access_token, s.mysql.password) == ("t0k", "pw")
    assert not {"k3y", "t0k", "pw@"} & set(re.findall(r"\w+@?", repr(s)))


def test_settings_are_frozen() -> None:
    s = Settings.from_env({})
    with pytest.raises(ValidationError):
        s.web_port = 1  # type: ignore[misc]


def test_every_settings_attribute_the_code_reads_exists() -> None:
    root = Path(__file__).resolve().parents[2]
    read: set[str] = set()
    for package in ("app", "agents", "tables", "models", "sinks", "feeds", "web", "ingest",
                    "bench"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            read |= set(re.findall(r"\b(?:settings|get_settings\(\))\.([a-z_]\w*)", text))
    assert len(read) > 20
    s = Settings.from_env({})
    assert sorted(name for name in read if not hasattr(s, name)) == []
