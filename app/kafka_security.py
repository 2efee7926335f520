"""Kafka client security from the settings, for Faust and for every aiokafka client.

Every Kafka client the platform creates takes its connection arguments from here, so one set
of environment variables (``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``, ``KAFKA_SSL_*``)
secures all of them: the Faust worker (``faust_credentials``), and the admin, producer and
consumer clients of the CLI commands and the read model (``client_kwargs``).
"""

from __future__ import annotations

import ssl
from typing import Any

import faust
from faust.types.auth import CredentialsT

from config.settings import KafkaSecurity, Settings, SettingsError


def bootstrap_servers(broker_url: str) -> str:
    """Turn ``kafka://h1:9092;kafka://h2:9092`` into ``h1:9092,h2:9092``."""
    hosts = []
    for part in broker_url.replace(";", ",").split(","):
        part = part.strip()
        if part:
            hosts.append(part.split("://", 1)[-1])
    return ",".join(hosts)


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """Return the TLS context of ``SSL`` and ``SASL_SSL`` (None for the other protocols).

    The broker's certificate is verified, host name included, against ``KAFKA_SSL_CAFILE``
    or the system's CAs; a client certificate is presented when one is configured.
    """
    if not security.uses_tls:
        return None
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH,
            cafile=str(security.ssl_cafile) if security.ssl_cafile else None)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"KAFKA_SSL_CAFILE {security.ssl_cafile} cannot be loaded: "
                            f"{_why(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if security.ssl_certfile is not None:
        try:
            context.load_cert_chain(
                str(security.ssl_certfile),
                str(security.ssl_keyfile) if security.ssl_keyfile else None,
                security.ssl_key_password)
        except (OSError, ssl.SSLError) as exc:
            # Never the exception itself: its arguments are not ours to trust with a secret.
            raise SettingsError(f"client certificate {security.ssl_certfile} or its key cannot "
                                f"be loaded: {_why(exc)}") from None
    return context


def _why(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or type(exc).__name__)
    return exc.strerror or type(exc).__name__


def security_kwargs(settings: Settings) -> dict[str, Any]:
    """The security keyword arguments of aiokafka's producer, consumer and admin client."""
    security = settings.kafka_security
    kwargs: dict[str, Any] = {"security_protocol": security.protocol}
    context = ssl_context(security)
    if context is not None:
        kwargs["ssl_context"] = context
    if security.uses_sasl:
        kwargs.update(sasl_mechanism=security.sasl_mechanism,
                      sasl_plain_username=security.sasl_username,
                      sasl_plain_password=security.sasl_password)
    return kwargs


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Bootstrap servers and security for an aiokafka client: ``AIOKafkaProducer(**kw, ...)``."""
    return {"bootstrap_servers": bootstrap_servers(settings.broker_url),
            **security_kwargs(settings)}


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """The ``broker_credentials`` of the Faust app (None: plaintext, no authentication)."""
    security = settings.kafka_security
    context = ssl_context(security)
    if security.uses_sasl:
        return faust.SASLCredentials(username=security.sasl_username,
                                     password=security.sasl_password,
                                     mechanism=security.sasl_mechanism,
                                     ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None
