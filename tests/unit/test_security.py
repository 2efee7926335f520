"""Kafka client security from the environment, and secrets kept out of reprs and errors."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import AuthProtocol, SASLMechanism

from app.kafka_security import client_kwargs, faust_credentials, security_kwargs, ssl_context
from config.settings import KafkaSecurity, Settings, SettingsError

SECRET = "s3cr3t-kafka-pw"
KEY_SECRET = "k3y-pa55phrase"
SASL = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "odds",
        "KAFKA_SASL_PASSWORD": SECRET}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed CA and a client certificate whose key is encrypted with KEY_SECRET."""
    folder = tmp_path_factory.mktemp("pki")
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key = folder / "client.pem", folder / "client.key"

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
            "-out", str(ca), "-days", "2", "-subj", "/CN=odds test CA")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-keyout", str(key), "-out", str(cert),
            "-days", "2", "-subj", "/CN=odds client", "-passout", f"pass:{KEY_SECRET}")
    return {"ca": ca, "cert": cert, "key": key}


def test_default_is_plaintext_without_credentials() -> None:
    settings = Settings.from_env({})
    assert settings.kafka_security == KafkaSecurity()
    assert client_kwargs(settings) == {"bootstrap_servers": "127.0.0.1:9092",
                                       "security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None


def test_sasl_scram_reaches_aiokafka_and_faust_alike() -> None:
    settings = Settings.from_env({**SASL, "BROKER_URL": "kafka://k1:9094;kafka://k2:9094",
                                  "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"})
    kwargs = client_kwargs(settings)
    assert kwargs == {"bootstrap_servers": "k1:9094,k2:9094",
                      "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                      "sasl_plain_username": "odds", "sasl_plain_password": SECRET}
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol is AuthProtocol.SASL_PLAINTEXT
    assert credentials.mechanism is SASLMechanism.SCRAM_SHA_512
    # The worker (through Faust) and the CLI clients (directly) connect the same way.
    faust_kwargs = dict(credentials_to_aiokafka_auth(credentials))
    assert faust_kwargs.pop("ssl_context") is None
    assert faust_kwargs == security_kwargs(settings)


def test_sasl_mechanism_defaults_to_scram_sha_512() -> None:
    assert Settings.from_env(SASL).kafka_security.sasl_mechanism == "SCRAM-SHA-512"
    plain = Settings.from_env({**SASL, "KAFKA_SASL_MECHANISM": "PLAIN"})
    assert security_kwargs(plain)["sasl_mechanism"] == "PLAIN"


def test_sasl_ssl_verifies_the_broker_against_the_ca_file(pki: dict[str, Path]) -> None:
    settings = Settings.from_env({**SASL, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                                  "KAFKA_SSL_CAFILE": str(pki["ca"])})
    kwargs = security_kwargs(settings)
    context = kwargs.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName",
                                                                 "odds test CA"),),)]
    assert kwargs["security_protocol"] == "SASL_SSL"
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol is AuthProtocol.SASL_SSL
    assert credentials.ssl_context is not None


def test_tls_with_a_client_certificate_and_encrypted_key(pki: dict[str, Path],
                                                        tmp_path: Path) -> None:
    key_password = tmp_path / "key-password"
    key_password.write_text(KEY_SECRET + "\n")
    settings = Settings.from_env({
        "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(pki["ca"]),
        "KAFKA_SSL_CERTFILE": str(pki["cert"]), "KAFKA_SSL_KEYFILE": str(pki["key"]),
        "KAFKA_SSL_KEY_PASSWORD_FILE": str(key_password)})
    assert settings.kafka_security.ssl_key_password == KEY_SECRET
    assert KEY_SECRET not in repr(settings)
    kwargs = security_kwargs(settings)
    assert kwargs["security_protocol"] == "SSL" and "sasl_mechanism" not in kwargs
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.protocol is AuthProtocol.SSL


def test_a_wrong_key_password_is_a_clear_error_without_the_password(
        pki: dict[str, Path]) -> None:
    wrong = "wr0ng-passphrase"
    settings = Settings.from_env({
        "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": str(pki["cert"]),
        "KAFKA_SSL_KEYFILE": str(pki["key"]), "KAFKA_SSL_KEY_PASSWORD": wrong})
    with pytest.raises(SettingsError, match=r"client certificate .* cannot be loaded") as info:
        ssl_context(settings.kafka_security)
    assert wrong not in str(info.value) and info.value.__cause__ is None


def test_a_ca_file_that_is_not_a_certificate_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    settings = Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL",
                                  "KAFKA_SSL_CAFILE": str(bogus)})
    with pytest.raises(SettingsError, match=r"KAFKA_SSL_CAFILE .* cannot be loaded"):
        security_kwargs(settings)


def test_password_from_a_mounted_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "kafka-password"
    secret_file.write_text(SECRET + "\n")
    env = {**SASL, "KAFKA_SASL_PASSWORD": "ignored", "KAFKA_SASL_PASSWORD_FILE": str(secret_file)}
    assert Settings.from_env(env).kafka_security.sasl_password == SECRET


def test_secrets_never_in_reprs() -> None:
    settings = Settings.from_env({
        **SASL, "MYSQL_DSN": "mysql://u:my5ql-pw@db:3306/odds"})
    for text in (repr(settings), str(settings), repr(settings.kafka_security),
                 repr(faust_credentials(settings))):
        assert SECRET not in text
        assert "my5ql-pw" not in text
    assert "odds" in repr(settings.kafka_security)  # the user name is not a secret


@pytest.mark.parametrize("env, message", [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "must be one of"),
    ({**SASL, "KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM must be one of"),
    ({**SASL, "KAFKA_SASL_PASSWORD": ""}, "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "odds"},
     "needs KAFKA_SASL_USERNAME"),
    ({"KAFKA_SASL_USERNAME": "odds", "KAFKA_SASL_PASSWORD": SECRET},
     "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set, but KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
    ({**SASL, "KAFKA_SSL_CAFILE": __file__}, "does not use TLS"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
     "not a readable file"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEYFILE": __file__}, "need KAFKA_SSL_CERTFILE"),
    ({**SASL, "KAFKA_SASL_PASSWORD_FILE": "/nonexistent/secret"}, "cannot be read"),
    ({"MYSQL_DSN": f"mysql://u:{SECRET}@db:{SECRET}/odds"}, "malformed port"),
])
def test_misconfiguration_is_a_clear_error_without_secrets(env: dict[str, str],
                                                          message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        Settings.from_env(env)
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None or SECRET not in str(info.value.__cause__)


def test_the_test_process_app_connects_in_plaintext() -> None:
    from app.faust_app import app

    assert app.conf.broker_credentials is None
