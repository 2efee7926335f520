"""Table recovery that first restores changelogs in bulk (``restore``), then Faust's."""

from __future__ import annotations

import logging
import time
from typing import Any

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP, ConsumerT

from app.faust_seams.committed_end import committed_reader
from app.faust_seams.drain import client_kwargs
from app.faust_seams.restore import Target, restore
from app.faust_seams.store import PartitionedStore

log = logging.getLogger(__name__)

#: The bulk restore runs inside a step Faust times out after ``broker_request_timeout`` (and
#: then stops the worker): it stops well before, and Faust's recovery reads the rest.
BUDGET_SHARE = 0.5


class BulkRecovery(Recovery):
    """Faust's recovery, after the active partitions' changelogs are restored in bulk."""

    async def _build_offsets(self, consumer: ConsumerT, tps: set[TP],
                             destination: Any, title: str) -> None:
        await super()._build_offsets(consumer, tps, destination, title)
        if title != "active":
            return
        targets = self._targets(tps, destination)
        if not targets:
            return

        def progress(tp: TP, offset: int) -> None:
            destination[tp] = offset

        started = time.monotonic()
        budget = BUDGET_SHARE * float(self.app.conf.broker_request_timeout)
        try:
            async with committed_reader(**client_kwargs(self.app)) as consumer:
                applied = await restore(consumer, targets, progress, budget)
        except Exception:  # an accelerator only: Faust's recovery does the rest
            log.exception("bulk restore failed; Faust's recovery restores from offsets %s",
                          {str(tp): destination[tp] for tp in targets})
            return
        done = sum(applied.get(tp, t.start - 1) - t.start + 1 for tp, t in targets.items())
        left = sum(t.last - t.start + 1 for t in targets.values()) - done
        # Offsets, not records: a transactional changelog also holds commit markers.
        log.info("bulk restore: %d offsets of %d changelog partitions in %.1fs (%d left "
                 "for Faust's recovery)", done, len(targets), time.monotonic() - started, left)

    def _targets(self, tps: set[TP], destination: Any) -> dict[TP, Target]:
        targets = {}
        for tp in tps:
            table = self.tp_to_table.get(tp)
            store: Any = getattr(table, "data", None)
            highwater = self.active_highwaters.get(tp)
            start = destination[tp] + 1  # super() set every one: -1 when nothing is stored
            if (not isinstance(store, PartitionedStore) or highwater is None
                    or highwater < start):
                continue
            targets[tp] = Target(start, highwater, store.partition_db(tp.partition),
                                 store.offset_key)
        return targets


class BulkTableManager(TableManager):
    """Faust's table manager with ``BulkRecovery``."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = BulkRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
