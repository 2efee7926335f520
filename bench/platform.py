"""Isolated deployments of the real worker (own app id, topics, database) and their processes.

A ``Deployment`` is what ``tests/integration/support.py`` calls a platform: a unique name that
is the app id, the topic prefix (``{name}.``) and the database (``bench_{name}``). Workers are
``faust -A app worker -l info`` subprocesses; every process started here is registered and
stopped by ``stop_all`` whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import platform as host
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiomysql

from bench.kafka_io import BOOTSTRAP, BROKER_URL, Kafka
from config.settings import MySQLConfig

ROOT = Path(__file__).resolve().parents[1]
BASE_DSN = os.environ.get("MYSQL_DSN", "mysql://betting:betting@127.0.0.1:3306/betting")
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: Every process this harness started; ``stop_all`` ends them.
PROCESSES: list[subprocess.Popen[bytes]] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def faust_command(app: str, loop: str | None, *args: str) -> list[str]:
    """``python -m faust [-L uvloop] -A app ARGS``."""
    command = [sys.executable, "-m", "faust"]
    if loop == "uvloop":
        command += ["-L", loop]
    return [*command, "-A", app, *args]


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out,  # noqa: S603
                                stderr=subprocess.STDOUT, start_new_session=True)
    PROCESSES.append(proc)
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    with contextlib.suppress(ValueError):
        PROCESSES.remove(proc)


def stop_all() -> None:
    for proc in list(PROCESSES):
        stop_process(proc, timeout=15)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- /proc -----------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` (``VmRSS``), or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds ``pid`` has used so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def listening_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` (reads /proc/net/tcp* and /proc/*/fd)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(entry.name)
    return None


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).stat().st_size
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


@dataclass
class CpuMeter:
    """CPU seconds of named processes, and of the whole machine, between start and stop."""

    pids: dict[str, int]
    started_at: float = 0.0
    start_cpu: dict[str, float] = field(default_factory=dict)
    start_busy: float = 0.0
    result: dict[str, float] = field(default_factory=dict)

    def start(self) -> CpuMeter:
        self.started_at = time.monotonic()
        self.start_cpu = {n: cpu_seconds(p) or 0.0 for n, p in self.pids.items()}
        self.start_busy = machine_busy_seconds()
        return self

    def stop(self) -> dict[str, float]:
        """Cores each process used (1.0 = one full core), the machine's busy cores, the
        cores used by everything else (``other``: not this benchmark), and the wall time."""
        wall = time.monotonic() - self.started_at
        used = {n: max(0.0, (cpu_seconds(p) or 0.0) - self.start_cpu.get(n, 0.0))
                for n, p in self.pids.items()}
        busy = machine_busy_seconds() - self.start_busy
        self.result = {f"{n}_cores": round(u / wall, 3) for n, u in used.items()}
        self.result["machine_cores"] = round(busy / wall, 3)
        self.result["other_cores"] = round(max(0.0, busy - sum(used.values())) / wall, 3)
        self.result["wall_s"] = round(wall, 2)
        return self.result


def other_load(pids: dict[str, int], seconds: float = 2.0) -> float:
    """Cores used over ``seconds`` by processes other than ``pids`` (blocking)."""
    meter = CpuMeter(pids).start()
    time.sleep(seconds)
    return meter.stop()["other_cores"]


_SERVICES: dict[str, int] = {}


def service_pids() -> dict[str, int]:
    """The broker and MariaDB this benchmark talks to, and this process (CPU accounting)."""
    if not _SERVICES:
        broker_port = int(BOOTSTRAP.split(",")[0].rsplit(":", 1)[1])
        for name, port in (("kafka", broker_port), ("mariadb", base_mysql().port)):
            pid = listening_pid(port)
            if pid is not None:
                _SERVICES[name] = pid
    return {"bench": os.getpid(), **_SERVICES}


# -- MySQL -----------------------------------------------------------------------------------


def base_mysql() -> MySQLConfig:
    return MySQLConfig.from_dsn(BASE_DSN)


async def mysql_execute(sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
    config = base_mysql()
    conn = await aiomysql.connect(host=config.host, port=config.port, user=config.user,
                                  password=config.password, db=database, autocommit=True,
                                  connect_timeout=10)
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            return list(await cur.fetchall())
    finally:
        conn.close()


# -- workers ---------------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """One running worker, its HTTP address and where it keeps its state."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    datadir: Path
    started: float  # monotonic, just before the process was started

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"worker {self.pid} exited with {self.proc.returncode}:\n"
                               f"{log_tail(self.log)}")

    async def get(self, http: aiohttp.ClientSession, path: str) -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=10)
        async with http.get(f"{self.url}{path}", timeout=timeout) as resp:
            body = await resp.read()
            return resp.status, body

    async def wait_ready(self, seconds: float, event_id: str | None = None,
                         markets: int = 0) -> float:
        """Seconds from process start until ``/ready`` answers 200 (and ``event_id`` is
        served with at least ``markets`` markets)."""
        import orjson

        deadline = time.monotonic() + seconds
        last = ""
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                self.check_alive()
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    status, body = await self.get(http, "/ready")
                    last = f"/ready {status} {body[:200]!r}"
                    if status == 200:
                        if event_id is None:
                            return time.monotonic() - self.started
                        status, body = await self.get(http, f"/events/{event_id}")
                        last = f"/events/{event_id} {status} {body[:200]!r}"
                        if status == 200 and len(orjson.loads(body)["markets"]) >= markets:
                            return time.monotonic() - self.started
                await asyncio.sleep(0.1)
        raise TimeoutError(f"worker {self.pid} not ready within {seconds}s (last: {last})\n"
                           f"{log_tail(self.log)}")

    async def metrics(self) -> dict[str, float]:
        """Prometheus counters summed over label sets (``name`` and ``name{labels}``)."""
        found: dict[str, float] = {}
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            async with aiohttp.ClientSession() as http:
                status, body = await self.get(http, "/metrics")
            if status != 200:
                return found
            for line in body.decode().splitlines():
                if not line or line.startswith("#"):
                    continue
                series, _, value = line.rpartition(" ")
                name = series.split("{", 1)[0]
                found[name] = found.get(name, 0.0) + float(value)
                if "{" in series:
                    found[series] = float(value)
        return found


@dataclass
class Deployment:
    """One isolated platform: app id, topic prefix, database and data dirs of its own."""

    name: str
    tmp: Path
    loop: str | None = None
    partitions: int = 8
    extra_env: dict[str, str] = field(default_factory=dict)
    #: ``separate``: the MySQL sink runs as its own ``faust -A app mysql-sink`` process.
    sink_mode: str = "separate"
    workers: list[WorkerProcess] = field(default_factory=list)
    sinks: list[WorkerProcess] = field(default_factory=list)
    destroyed: bool = False

    @property
    def app_id(self) -> str:
        return self.name

    @property
    def database(self) -> str:
        return f"bench_{self.name}"

    @property
    def group(self) -> str:
        return self.app_id

    @property
    def sink_group(self) -> str:
        return f"{self.app_id}-mysql-sink"

    def topic(self, name: str) -> str:
        return f"{self.name}.{name}"

    def datadir(self, index: int) -> Path:
        return self.tmp / f"{self.name}-data{index}"

    def env(self, web_port: int, datadir: Path) -> dict[str, str]:
        base = base_mysql()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "BENCH_"))}
        env.update({
            "BROKER_URL": BROKER_URL,
            "MYSQL_DSN": f"mysql://{base.user}:{base.password}@{base.host}:{base.port}/"
                         f"{self.database}",
            "APP_ID": self.app_id,
            "TOPIC_PREFIX": f"{self.name}.",
            "TOPIC_PARTITIONS": str(self.partitions),
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(web_port),
            "APP_DATADIR": str(datadir),
            "APP_STORE": "rocksdb://",
            "SINK_MODE": self.sink_mode,
        })
        if self.loop:
            env["EVENT_LOOP"] = self.loop
        env.update(self.extra_env)
        return env

    async def create(self) -> None:
        """Create the database and every platform topic (``faust -A app create-topics``)."""
        await mysql_execute(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        command = faust_command("app", None, "create-topics")
        result = await asyncio.to_thread(
            subprocess.run, command, env=self.env(free_port(), self.datadir(0)), cwd=ROOT,
            capture_output=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"create-topics failed: {result.stderr.decode()[-2000:]}")

    def spawn_worker(self, index: int = 0, datadir: Path | None = None) -> WorkerProcess:
        port = free_port()
        datadir = datadir or self.datadir(index)
        log = self.tmp / f"{self.name}-worker{index}.log"
        started = time.monotonic()
        proc = spawn(faust_command("app", self.loop, "worker", "-l", "info"),
                     self.env(port, datadir), log)
        worker = WorkerProcess(proc, f"http://127.0.0.1:{port}", log, datadir, started)
        self.workers.append(worker)
        return worker

    def spawn_sink(self) -> WorkerProcess | None:
        """Start the separate MySQL sink process (None when the workers run it inline)."""
        if self.sink_mode != "separate":
            return None
        env, port = self.env(free_port(), self.datadir(99)), free_port()
        env["SINK_WEB_PORT"] = str(port)
        log = self.tmp / f"{self.name}-sink{len(self.sinks)}.log"
        started = time.monotonic()
        proc = spawn(faust_command("app", self.loop, "mysql-sink"), env, log)
        sink = WorkerProcess(proc, f"http://127.0.0.1:{port}", log, self.datadir(99), started)
        self.sinks.append(sink)
        return sink

    def stop_worker(self, worker: WorkerProcess, timeout: float = 60) -> float:
        """Stop one worker; return the seconds it took to exit."""
        started = time.monotonic()
        stop_process(worker.proc, timeout)
        with contextlib.suppress(ValueError):
            self.workers.remove(worker)
        return time.monotonic() - started

    async def mysql(self, sql: str) -> list[tuple[Any, ...]]:
        return await mysql_execute(sql, self.database)

    async def destroy(self, kafka: Kafka) -> None:
        for worker in list(self.workers):
            self.stop_worker(worker, 30)
        for sink in self.sinks:
            stop_process(sink.proc, 30)
        self.sinks.clear()
        if self.destroyed:
            return
        self.destroyed = True
        with contextlib.suppress(aiomysql.Error, OSError):
            await mysql_execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        with contextlib.suppress(Exception):
            await kafka.delete_topics(self.name)
        with contextlib.suppress(Exception):
            await kafka.delete_groups(self.name)
        for path in self.tmp.glob(f"{self.name}-data*"):
            shutil.rmtree(path, ignore_errors=True)


# -- the machine -----------------------------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def kafka_version() -> str | None:
    """The broker's version, from its jar: in this checkout, else on the running broker's
    class path (a run from a fresh clone uses the broker ``make up`` started elsewhere)."""
    for libs in [ROOT / ".kafka" / "libs", *_running_broker_libs()]:
        for jar in sorted(libs.glob("kafka_2.*-*.jar")):
            return jar.stem.rsplit("-", 1)[1]
    return None


def _running_broker_libs() -> list[Path]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kafka.Kafka" in args and b"-cp" in args[:-1]:
            classpath = args[args.index(b"-cp") + 1].decode(errors="replace")
            found += [Path(entry.removesuffix("*")) for entry in classpath.split(":")]
    return found


def git_revision() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,  # noqa: S607
                              capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
                               cwd=ROOT, capture_output=True, text=True, timeout=10,
                               check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "")


def _proc_info() -> tuple[str | None, float | None]:
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    return cpu_model, memory


async def machine() -> dict[str, Any]:
    cpu_model, memory = _proc_info()
    mariadb = None
    with contextlib.suppress(Exception):
        mariadb = (await mysql_execute("SELECT VERSION()"))[0][0]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": memory,
        "kernel": host.release(),
        "python": host.python_version(),
        "faust": _version("faust-streaming"),
        "aiokafka": _version("aiokafka"),
        "rocksdict": _version("rocksdict"),
        "orjson": _version("orjson"),
        "uvloop": _version("uvloop"),
        "kafka_broker": kafka_version(),
        "mariadb": mariadb,
        "git": git_revision(),
        "load_average_at_start": os.getloadavg(),
    }
