"""Integration tests need the real Kafka and MariaDB; a missing service fails the run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiomysql
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from config.settings import MySQLConfig
from tests.integration.support import BASE_DSN, BOOTSTRAP, Platform


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def services_up() -> None:
    """Fail (never skip) with a clear message when Kafka or MySQL does not answer."""

    async def check() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), 15)
            await admin.close()
        except Exception as exc:  # noqa: BLE001 - reported as a failure below
            pytest.fail(f"Kafka at {BOOTSTRAP} does not answer ({exc!r}); run `make up`",
                        pytrace=False)
        config = MySQLConfig.from_dsn(BASE_DSN)
        try:
            conn = await aiomysql.connect(host=config.host, port=config.port, user=config.user,
                                          password=config.password, connect_timeout=5)
            conn.close()
        except Exception as exc:  # noqa: BLE001 - reported as a failure below
            pytest.fail(f"MySQL at {config.redacted()} does not answer ({exc!r}); run `make up`",
                        pytrace=False)

    asyncio.run(check())


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    """An isolated platform (topics, database, app id); workers are started by the test."""
    deployment = Platform(tmp_path)
    await deployment.create()
    try:
        yield deployment
    finally:
        await deployment.destroy()
