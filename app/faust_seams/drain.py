"""A leaner consumer drain for Faust, installed through the app's transport (no patching).

Faust's ``Consumer._drain_messages`` hands each fetched record to the streams with
``wait_first(callback(message), suspend_flow.wait())``: four tasks and an ``asyncio.wait``
per record (faust-streaming #229), a large share of a do-nothing agent's time
(docs/decisions/0012). The stream
callback never blocks (it puts without waiting and pauses partitions under pressure), so
this drain awaits it directly. Everything else is Faust's loop as it is: read offsets,
gaps, commits, dropping records below the read offset, stopping.

A rebalance must not lose records (tests/integration/test_faults.py, the survivor test).
Faust's recovery resumes the flow before it seeks the stream partitions to their committed
offsets (``faust/tables/recovery.py``: "Resuming flow..." in ``_restart_recovery``, then
``on_recovery_completed``: ``resume_partitions``, ``perform_seek``, ``flow_control.resume``).
The revocation has emptied the read offsets, so records fetched meanwhile are delivered and
move aiokafka's fetch position; ``flow_control.resume()`` then clears them from the stream
queues, and aiokafka, whose ``seek_to_committed`` seeks one partition at a time and skips
partitions without a commit, does not always fetch them again. The drain takes the jump
from the committed offset to the advanced position for a gap in the log (``_add_gap``), a
gap counts as acknowledged, and the next commit passes records nobody processed. So here
the seek runs with the fetcher stopped and idle, a partition without a commit is seeked to
its start, and records fetched before a seek are neither delivered nor allowed to move the
read offset afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from time import monotonic
from typing import Any, ClassVar, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT, TransportT
from mode import Service

from app.faust_seams.committed_end import read_committed_ends
from app.faust_seams.delivery import DELIVERIES

#: Records handed over between two yields to the event loop (Faust: 100).
YIELD_EVERY = 1000
#: A fetch answers once this much is waiting, or after ``FETCH_MAX_WAIT_MS`` (Faust: 1 byte,
#: 1,500 ms). With Faust's values the broker answers each fetch with a record or two under
#: live traffic, and every response is decoded in pure Python in the consumer thread. Fewer,
#: larger responses cost less CPU under load; the price is a little CPU while idle (the
#: measurements, and why 10 ms: docs/decisions/0011).
FETCH_MIN_BYTES = 64 * 1024
FETCH_MAX_WAIT_MS = 10
READ_COMMITTED = "read_committed"


class LeanConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, fetching fewer, larger responses, read-committed."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it creates its fetcher.
        consumer._fetch_min_bytes = FETCH_MIN_BYTES
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        # The odds agent writes each batch in a transaction (outbound/transaction.py): table
        # recovery and the feed must see whole batches only.
        consumer._isolation_level = READ_COMMITTED
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """End offsets; a changelog's ends after its last committed record (committed_end)."""
        consumer = self._ensure_consumer()
        ends: dict[TP, int] = dict(await consumer.end_offsets(partitions))
        changelogs = {tp: end for tp, end in ends.items() if self._is_changelog(tp) and end}
        if changelogs:
            ends.update(await self._committed_ends(changelogs))
        return ends

    def _is_changelog(self, tp: TP) -> bool:
        return tp.topic in self.app.tables.changelog_topics

    async def _committed_ends(self, ends: Mapping[TP, int]) -> dict[TP, int]:
        return await read_committed_ends(ends, **client_kwargs(self.app))


def client_kwargs(app: Any) -> dict[str, Any]:
    """aiokafka client arguments of the app's own consumer: servers, client id, auth."""
    conf = app.conf
    transport: Any = app.transport
    return {
        "bootstrap_servers": faust_aiokafka.server_list(transport.url, transport.default_port),
        "client_id": conf.broker_client_id,
        "max_partition_fetch_bytes": conf.consumer_max_fetch_size,
        **faust_aiokafka.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    }


class LeanConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with a drain that does not wrap each record in tasks."""

    #: Bumped by every seek to the committed offsets: records fetched before it are stale.
    _seek_epoch = 0
    #: ``_seek_epoch`` when the last fetch started.
    _fetch_epoch = 0
    #: Set while no fetch is under way in the consumer thread (Faust's
    #: ``not_waiting_next_records`` is set on entry as well as on exit of a fetch, so
    #: ``wait_for_stopped_flow`` never waits).
    _not_fetching: asyncio.Event | None = None

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return LeanConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _fetch_idle(self) -> asyncio.Event:
        if self._not_fetching is None:
            self._not_fetching = asyncio.Event()
            self._not_fetching.set()
        return self._not_fetching

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:  # noqa: ASYNC109
        idle = self._fetch_idle()
        idle.clear()  # the drain runs one fetch at a time
        self._fetch_epoch = self._seek_epoch
        try:
            return await super()._getmany(active_partitions=active_partitions,
                                          timeout=timeout)
        finally:
            idle.set()

    async def perform_seek(self) -> None:
        """Seek the partitions to their committed offsets while nothing is fetched."""
        resume = self.flow_active
        self.stop_flow()  # no fetch starts; Faust's getmany drops what one returns now
        await self._fetch_idle().wait()  # one under way ends within its timeout (1 s)
        try:
            await super().perform_seek()
        finally:
            self._seek_epoch += 1
            if resume:
                self.resume_flow()

    async def verify_all_partitions_active(self) -> None:
        """Run Faust's stream-inactivity check on the partitions that streams read."""
        # Changelog partitions are read by recovery and standbys (which have their own
        # check), never by a stream: "Stream has not started processing" is always true there.
        now = monotonic()
        for tp in self.assignment():
            await self.sleep(0)
            if not self.should_stop and not self._is_changelog_tp(tp):
                self.verify_event_path(now, tp)

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        """Commit unless a send has failed: then stop the worker, committing nothing."""
        await asyncio.sleep(0)  # the callbacks of sends that the flush waited for run first
        if DELIVERIES.failure is not None:
            await self.crash(DELIVERIES.failure)
            return False
        return bool(await super()._commit(offsets))

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """aiokafka seeks only partitions with a commit: start the others from the
        beginning (``consumer_auto_offset_reset``), not where an earlier fetch stopped."""
        committed = await super().seek_to_committed()
        fresh = [tp for tp, offset in committed.items()
                 if (offset is None or offset <= 0) and not self._is_changelog_tp(tp)]
        if fresh:
            await self._thread.seek_to_beginning(*fresh)
        return committed

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - worker only
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                records = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    epoch = -1
                    async for tp, message in records:
                        if epoch < 0:
                            epoch = self._fetch_epoch  # of the fetch these records come from
                        if self._seek_epoch != epoch:
                            break  # fetched before a seek, which fetches these again
                        since_yield += 1
                        if since_yield >= YIELD_EVERY:
                            await asyncio.sleep(0)
                            since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is not None and offset < r_offset:
                            continue  # already delivered (Faust drops these too)
                        if r_offset and offset - r_offset > 1 and acks_enabled_for(message.topic):
                            await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        await callback(message)
                        if self._seek_epoch != epoch:
                            break  # a seek reset the read offset meanwhile: keep it
                        set_read_offset(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class LeanTransport(faust_aiokafka.Transport):
    """The aiokafka transport, with ``LeanConsumer``."""

    Consumer: ClassVar[type[ConsumerT]] = LeanConsumer


class LeanApp(faust.App):
    """``faust.App`` whose consumer uses the lean drain."""

    def _new_transport(self) -> TransportT:
        return LeanTransport(self.conf.broker_consumer, self)
