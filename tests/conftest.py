"""The test process imports the app on the memory store; workers under test use RocksDB."""

import os
import tempfile

os.environ["APP_STORE"] = "memory://"
os.environ.setdefault("APP_ID", "odds-unit-tests")
os.environ.setdefault("APP_DATADIR", os.path.join(tempfile.gettempdir(), "odds-unit-tests"))
os.environ["EVENT_LOOP"] = "asyncio"
