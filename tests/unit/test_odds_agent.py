"""The odds agent through ``agent.test_context()``, on the path production takes: the tables on
RocksDB (``app.faust_seams.store.PartitionedStore``, in a temporary directory) and every batch
sent as one Kafka transaction (``outbound.transaction``), to a fake broker instead of Kafka.

The path is chosen when ``agents.odds`` is imported: ``ON_ROCKSDB`` (the store is
``rocksdb://``) selects ``RocksTableIO`` and ``BatchSender`` transactions over Faust's table API
and sends, and ``tables.state`` declares the tables on ``PartitionedStore`` for that store. The
unit-test process has imported the app on the memory store already (``tests/conftest.py``), so
the agent's tests live in ``odds_agent_on_rocksdb.py``, which the unit-test run does not
collect, and ``test_the_agent_on_rocksdb`` runs them in a child pytest with
``APP_STORE=rocksdb://``, ``APP_DATADIR`` a temporary directory and ``--noconftest`` (the
conftest would set the memory store back); it fails with the child's output unless every one of
them ran and passed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
CHILD = Path(__file__).with_name("odds_agent_on_rocksdb.py")


def test_the_agent_on_rocksdb(tmp_path: Path) -> None:
    tests = len(re.findall(r"^(?:async )?def test_", CHILD.read_text(), flags=re.MULTILINE))
    env = {**os.environ, "APP_STORE": "rocksdb://", "APP_DATADIR": str(tmp_path),
           "APP_ID": "odds-unit-tests", "EVENT_LOOP": "asyncio"}
    env.pop("PYTEST_ADDOPTS", None)
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "--noconftest", "-p", "no:cacheprovider", "-q",
         "-W", "error", str(CHILD.relative_to(ROOT))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=100, check=False)
    output = child.stdout + child.stderr
    assert child.returncode == 0, output
    # Every test ran on RocksDB and passed: none skipped, none left out.
    assert tests >= 4 and re.search(rf"\b{tests} passed\b", output), output
    assert "skipped" not in output, output
