"""The readiness probe's broker check, against sockets that refuse or never answer."""

import asyncio

from aiokafka.client import AIOKafkaClient

from app.broker_probe import broker_problem
from tests.unit.broker_fakes import SilentBroker, client_knowing, closed_port


async def test_no_known_broker_is_a_problem() -> None:
    client = AIOKafkaClient(bootstrap_servers="127.0.0.1:1")
    assert await broker_problem(client, "feed.v1") == "Kafka unreachable: no broker known yet"
    await client.close()


async def test_a_refused_connection_is_a_problem() -> None:
    client = client_knowing(closed_port())
    problem = await broker_problem(client, "feed.v1", within=5.0)
    assert problem == "Kafka unreachable (broker 1: NodeNotReadyError)"
    await client.close()


async def test_a_broker_that_never_answers_times_out() -> None:
    silent = SilentBroker()
    async with silent as port:
        client = client_knowing(port)
        loop = asyncio.get_running_loop()
        started = loop.time()
        problem = await broker_problem(client, "feed.v1", within=0.5)
        assert problem == "Kafka unreachable (broker 1: TimeoutError)"
        # The probe's own limit, not the client's 30 s request timeout, ended the wait.
        assert 0.45 <= loop.time() - started < 5.0
        assert silent.accepted, "the probe never reached the silent broker"
        await client.close()


async def test_brokers_are_asked_at_once_so_silent_ones_cost_the_limit_once() -> None:
    first, second, third = SilentBroker(), SilentBroker(), SilentBroker()
    async with first as port1, second as port2, third as port3:
        client = client_knowing(port1, closed_port(), port2, port3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        problem = await broker_problem(client, "feed.v1", within=1.0)
        elapsed = loop.time() - started
        assert problem == ("Kafka unreachable (broker 1: TimeoutError, broker 2: "
                           "NodeNotReadyError, broker 3: TimeoutError, broker 4: TimeoutError)")
        # Asked one after another, three silent brokers would take 3 s.
        assert 0.95 <= elapsed < 2.5
        assert first.accepted and second.accepted and third.accepted
        await client.close()
