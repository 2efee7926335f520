"""Pure helpers for the benchmark's numbers: percentiles, rates, targets and the markdown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: The platform's targets: (key, description, comparison, bound). CPU is per feed message in
#: the one-worker run (each process's CPU seconds / messages); the ingestors' rates are
#: provider messages per second into Kafka, each ingestor alone.
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("worker_cpu_ms", "worker CPU per feed message (ms)", "<=", 0.16),
    ("worker_vs_noop", "worker CPU / do-nothing Faust agent's, per message", "<=", 1.8),
    ("all_cpu_ms", "worker, sink, MariaDB and broker CPU per feed message (ms)", "<=", 0.32),
    ("ratio_naive", "throughput / naive Faust agent's", ">=", 4.0),
    ("mysql_rows_per_msg", "MySQL rows per feed message", "<=", 4.0),
    ("mysql_lag_s", "MySQL caught up after the input stops (s)", "<=", 5),
    ("p99_1000", "latency p99 at 1,000 msg/s (ms)", "<=", 50),
    ("p99_80", "latency p99 at 80% of the measured maximum (ms)", "<=", 250),
    ("rss_gib", "worker RSS with 1,000,000 markets (GiB)", "<=", 1.0),
    ("ready_local_s", "restart to ready from the local store (s)", "<=", 10),
    ("ready_changelog_s", "restart to ready from the topics alone (s)", "<=", 30),
    ("ingest_uof_rate", "UOF ingestor, AMQP to Kafka (msg/s)", ">=", 10_000),
    ("ingest_betfair_rate", "Betfair ingestor, Exchange Stream to Kafka (msg/s)", ">=", 10_000),
    ("history_p99_ms", "price history p99, windows of 500 of 10,000 versions (ms)", "<=", 20),
    ("history_at_p99_ms", "price history p99, the version in force at an instant (ms)", "<=",
     20),
)


def ingest_summary(run: dict[str, Any]) -> dict[str, Any]:
    """One ingestor benchmark's result with the report's names for its rate and CPU."""
    rate = run.get("messages_per_s", run.get("messages_per_second"))
    cpu = run.get("cpu_us_per_message", run.get("ingestor_cpu_us_per_message"))
    return {**run, "messages_per_s": rate, "cpu_us_per_message": cpu}


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of already sorted values."""
    if not sorted_values:
        return None
    if q <= 0:
        return sorted_values[0]
    rank = math.ceil(q / 100 * len(sorted_values))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(latencies: Sequence[float]) -> dict[str, Any]:
    values = sorted(latencies)
    return {"samples": len(values), "p50_ms": percentile(values, 50),
            "p95_ms": percentile(values, 95), "p99_ms": percentile(values, 99),
            "max_ms": values[-1] if values else None}


def steady_rate(samples: Sequence[tuple[float, int]], total: int, low: float = 0.1,
                high: float = 0.9) -> float | None:
    """Records/s between the first samples at ``low`` and ``high`` of ``total`` progress.

    ``samples`` are (time in seconds, records done) in time order.
    """
    start = next(((t, n) for t, n in samples if n >= low * total), None)
    end = next(((t, n) for t, n in samples if n >= high * total), None)
    if start is None or end is None or end[0] <= start[0]:
        return None
    return (end[1] - start[1]) / (end[0] - start[0])


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return numerator / denominator


def check(value: float | None, comparison: str, bound: float) -> bool | None:
    if value is None:
        return None
    return value >= bound if comparison == ">=" else value <= bound


def summary(results: dict[str, Any]) -> dict[str, float | None]:
    """The values the targets are about, from a results document."""
    throughput = results.get("throughput") or {}
    ceilings = results.get("ceilings") or {}
    latency = {round(run["offered_rate"]): run for run in results.get("latency") or []
               if run.get("nominal")}
    state = results.get("state") or {}
    rate = throughput.get("rate_msgs")

    def ceiling(name: str) -> float | None:
        return (ceilings.get(name) or {}).get("rate_msgs")

    rss = state.get("rss_bytes")
    at_80 = next((run for run in results.get("latency") or [] if not run.get("nominal")), {})
    cpu = cpu_per_message(throughput)
    worker_ms = cpu.get("worker0")
    noop_ms = cpu_per_message(ceilings.get("faust_noop") or {}).get("ceiling")
    rows = (throughput.get("mysql") or {}).get("rows") or {}
    messages = throughput.get("messages")
    return {
        "throughput_msgs": rate,
        "worker_cpu_ms": worker_ms,
        "worker_vs_noop": ratio(worker_ms, noop_ms),
        "all_cpu_ms": (sum(cpu.get(k, 0.0) for k in ("worker0", *SERVICES))
                       if worker_ms is not None else None),
        "ratio_naive": ratio(rate, ceiling("faust_naive")),
        "ratio_noop": ratio(rate, ceiling("faust_noop")),
        "ratio_passthrough": ratio(rate, ceiling("passthrough")),
        "mysql_rows_per_msg": sum(rows.values()) / messages if rows and messages else None,
        "p99_1000": (latency.get(1000) or {}).get("p99_ms"),
        "p99_5000": (latency.get(5000) or {}).get("p99_ms"),
        "p99_80": at_80.get("p99_ms"),
        "rss_gib": rss / 2**30 if rss else None,
        "ready_local_s": (state.get("restart_local") or {}).get("ready_s"),
        "ready_changelog_s": (state.get("restart_changelog") or {}).get("ready_s"),
        "mysql_lag_s": (throughput.get("mysql") or {}).get("lag_s"),
        "ingest_uof_rate": ((results.get("ingest") or {}).get("uof") or {}).get("messages_per_s"),
        "ingest_betfair_rate": ((results.get("ingest") or {}).get("betfair") or {})
        .get("messages_per_s"),
        "history_p99_ms": ((results.get("history") or {}).get("window") or {}).get("p99_ms"),
        "history_at_p99_ms": ((results.get("history") or {}).get("at") or {}).get("p99_ms"),
    }


#: The processes the platform needs besides its worker (keys of a run's ``cpu``), as named in
#: the report. With ``--sink inline`` the sink's CPU is the worker's.
SERVICES = {"sink": "the sink", "mariadb": "MariaDB", "kafka": "the broker"}


def cpu_per_message(run: dict[str, Any]) -> dict[str, float]:
    """CPU milliseconds per feed message of each metered process in a throughput run."""
    cpu = run.get("cpu") or {}
    messages, wall = run.get("messages"), cpu.get("wall_s")
    if not messages or not wall:
        return {}
    return {key.removesuffix("_cores"): cores * wall * 1000 / messages
            for key, cores in cpu.items()
            if key.endswith("_cores") and key not in ("machine_cores", "other_cores")}


def services_ceiling(run: dict[str, Any], cores: float | None,
                     worker_ms: float = 0.0) -> float | None:
    """Feed msg/s at which the sink, MariaDB and the broker would fill ``cores``.

    The rate a worker costing ``worker_ms`` per message (0: nothing) could reach on this
    machine, if each service's CPU per message stays what it was in the run.
    """
    per_message = cpu_per_message(run)
    services = sum(per_message.get(name, 0.0) for name in SERVICES)
    if not cores or services <= 0:
        return None
    return cores * 1000 / (services + worker_ms)


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if digits == 0:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    return str(value)


def targets_table(results: dict[str, Any]) -> str:
    values = summary(results)
    lines = ["| target | measured | bound | met |", "|---|---|---|---|"]
    for key, text, comparison, bound in TARGETS:
        value = values.get(key)
        digits = (3 if key.endswith("_ms") else
                  2 if key.startswith(("ratio", "rss", "ready", "mysql", "worker_vs")) else 0)
        met = check(value, comparison, bound)
        lines.append(f"| {text} | {_fmt(value, digits)} | {comparison} {bound:g} | "
                     f"{_fmt(met)} |")
    return "\n".join(lines)


def render(results: dict[str, Any]) -> str:
    """The whole result as markdown: machine, targets, then each measurement."""
    out: list[str] = []
    machine = results.get("machine") or {}
    options = results.get("options") or {}
    out.append(f"### Run {results.get('run_id', '')} ({machine.get('date', '')})")
    out.append("")
    out.append(
        f"Machine: {machine.get('cores')} cores, {machine.get('cpu_model')}, "
        f"{machine.get('memory_gib')} GiB; Python {machine.get('python')}, "
        f"faust-streaming {machine.get('faust')}, aiokafka {machine.get('aiokafka')}, "
        f"rocksdict {machine.get('rocksdict')}, Kafka {machine.get('kafka_broker')}, "
        f"MariaDB {machine.get('mariadb')}; git {machine.get('git')}; "
        f"worker loop {options.get('loop')}; load average at start "
        f"{_fmt_load(machine.get('load_average_at_start'))}.")
    workload = results.get("workload") or {}
    stats = workload.get("stats") or {}
    out.append("")
    out.append(
        f"Workload: {_fmt(stats.get('messages'))} messages over {_fmt(options.get('events'))} "
        f"events x 40 markets ({_fmt(stats.get('type:odds_change'))} odds_change with "
        f"{_fmt(stats.get('markets'))} market and {_fmt(stats.get('outcomes'))} outcome "
        f"updates, {_fmt(stats.get('type:bet_stop'))} bet_stop, "
        f"{_fmt(stats.get('status_changes'))} market status changes, "
        f"{_fmt(stats.get('type:fixture_change'))} fixture_change), "
        f"{options.get('partitions')} partitions.")
    out.append("")
    out.append(targets_table(results))
    out.append("")
    out.append(_throughput_table(results))
    latency = results.get("latency") or []
    if latency:
        out.append("")
        out.append("| latency, feed ts to markets.v1 arrival | offered msg/s | achieved msg/s "
                   "| samples | p50 ms | p95 ms | p99 ms | max ms | drain s | other CPU "
                   "| worker: batches, mean batch ms, mean ts to commit ms, batches over 50 ms,"
                   " % committed over 100 ms after ts, GC pauses over 25 ms |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for run in latency:
            if "offered_rate" not in run:
                continue
            out.append(
                f"| {run.get('label')} | {_fmt(run.get('offered_rate'))} | "
                f"{_fmt(run.get('achieved_rate'))} | {_fmt(run.get('samples'))} | "
                f"{_fmt(run.get('p50_ms'))} | {_fmt(run.get('p95_ms'))} | "
                f"{_fmt(run.get('p99_ms'))} | {_fmt(run.get('max_ms'))} | "
                f"{_fmt(run.get('drain_s'), 1)}{' (saturated)' if run.get('saturated') else ''} "
                f"| {_fmt((run.get('cpu') or {}).get('other_cores'), 2)} | "
                f"{_worker_latency(run.get('worker'))} |")
        out.append("")
        out.append("(drain: seconds from the last send until the worker had committed all "
                   "input; other CPU: cores used by processes outside the benchmark; worker: "
                   "from its own histograms over the run, the rest of the latency is delivery "
                   "to the reading consumer.)")
    graphql = results.get("graphql") or {}
    if graphql.get("with"):
        out.append("")
        out.append(_graphql_line(graphql))
    bets = results.get("bets") or {}
    if bets.get("checks"):
        out.append("")
        out.append(_bets_line(bets))
    state = results.get("state") or {}
    if state:
        out.append("")
        out.append(_state_table(state))
    ingest = results.get("ingest") or {}
    if ingest.get("uof") or ingest.get("betfair"):
        out.append("")
        out.append(_ingest_table(ingest))
    history = results.get("history") or {}
    if history.get("window"):
        out.append("")
        out.append(history_table(history))
    profile = (results.get("throughput") or {}).get("profile") or {}
    if profile.get("samples"):
        packages = ", ".join(f"{name} {pct}%" for name, pct in
                             profile.get("self_by_package_pct", [])[:10])
        out.append("")
        out.append(f"Worker profile (py-spy, {profile['samples']:,} samples during the one-worker "
                   f"run): own time by package: {packages}. Collapsed stacks: "
                   f"`{profile.get('file')}`.")
    notes = results.get("notes") or []
    if notes:
        out.append("")
        out.extend(f"- {note}" for note in notes)
    return "\n".join(out)


def history_table(history: dict[str, Any]) -> str:
    """The price history stage: latency of windows and instants over HTTP."""
    lines = [f"| price history, one market of {_fmt(history.get('versions'))} versions (1 in "
             f"{history.get('folded_every')} without a snapshot), {_fmt(history.get('requests'))}"
             " requests each, one at a time | p50 ms | p95 ms | p99 ms | max ms |",
             "|---|---|---|---|---|"]
    window = history.get("window") or {}
    for label, run in ((f"window, limit {history.get('limit')} (mean "
                        f"{_fmt(window.get('mean_versions'), 1)} versions)", window),
                       ("version in force at an instant", history.get("at") or {})):
        lines.append(f"| {label} | {_fmt(run.get('p50_ms'), 2)} | {_fmt(run.get('p95_ms'), 2)} "
                     f"| {_fmt(run.get('p99_ms'), 2)} | {_fmt(run.get('max_ms'), 2)} |")
    return "\n".join(lines)


def _ingest_table(ingest: dict[str, Any]) -> str:
    lines = ["| ingestor, provider to Kafka | messages | msg/s | ingestor CPU per message (us) "
             "| publisher msg/s |", "|---|---|---|---|---|"]
    for name, label in (("uof", "UOF over AMQP (RabbitMQ)"),
                        ("betfair", "Betfair Exchange Stream (TLS)")):
        run = ingest.get(name) or {}
        if run.get("error") or not run:
            lines.append(f"| {label} | failed: {run.get('error', 'not run')} | | | |")
            continue
        lines.append(f"| {label} | {_fmt(run.get('messages'))} | {_fmt(run.get('messages_per_s'))}"
                     f" | {_fmt(run.get('cpu_us_per_message'), 1)} | "
                     f"{_fmt(run.get('publisher_messages_per_second'))} |")
    return "\n".join(lines)


def _fmt_load(load: Any) -> str:
    if not load:
        return "-"
    return "/".join(f"{x:.2f}" for x in load)


def _throughput_table(results: dict[str, Any]) -> str:
    rows = ["| throughput (same feed topic, fresh consumer group) | messages | msg/s | "
            "outcome updates/s | platform / this | CPU cores: process, broker, MariaDB, other |",
            "|---|---|---|---|---|---|"]
    platform = (results.get("throughput") or {}).get("rate_msgs")
    for label, run in _throughput_runs(results):
        if not run:
            continue
        rate = run.get("rate_msgs")
        cpu = run.get("cpu") or {}
        process_cpu = sum(v for k, v in cpu.items()
                          if k.startswith(("worker", "ceiling")) and isinstance(v, float))
        rows.append(
            f"| {label} | {_fmt(run.get('messages'))} | {_fmt(rate)} | "
            f"{_fmt(run.get('outcomes_per_s'))} | {_fmt(ratio(platform, rate), 2)} | "
            f"{process_cpu:.2f}, {cpu.get('kafka_cores', 0):.2f}, "
            f"{cpu.get('mariadb_cores', 0):.2f}, {cpu.get('other_cores', 0):.2f} |")
    throughput = results.get("throughput") or {}
    mysql = throughput.get("mysql") or {}
    if mysql:
        rows.append("")
        rows.append(
            f"MySQL sink during the one-worker run: {_fmt(mysql.get('rows_per_s'))} rows/s "
            f"({', '.join(f'{k} {_fmt(v)}' for k, v in (mysql.get('rows') or {}).items())}); "
            f"largest backlog {_fmt(throughput.get('sink_backlog_max'))} outbound records; "
            f"caught up {_fmt(mysql.get('lag_s'), 2)} s after the last feed record was "
            f"processed{' (upper bound)' if mysql.get('lag_upper_bound') else ''}.")
    worker = (throughput.get("worker_time") or [None])[0]
    if worker and worker.get("batches"):
        rows.append("")
        rows.append(
            f"The worker's own time in the one-worker run ({_fmt(throughput.get('seconds'))} s):"
            f" {_fmt(worker['batches'])} batches of {_fmt(worker['batch_mean_ms'], 1)} ms"
            f"{_batch_messages(worker)},"
            f" {_fmt(worker.get('batch_seconds'), 1)} s in all, of which planning and staging"
            f" {_fmt(worker.get('planning_seconds'), 1)} s and waiting for the batches'"
            f" transactions {_fmt(worker.get('transaction_seconds'), 1)} s.")
    per_message = cpu_per_message(throughput)
    if per_message:
        cores = (results.get("machine") or {}).get("cores")
        rows.append("")
        rows.append(
            "CPU per feed message in the one-worker run (ms): "
            + ", ".join(f"{name} {value:.3f}" for name, value in per_message.items())
            + f". {_services_named(per_message)} alone would fill the machine's {cores} "
            f"cores at {_fmt(services_ceiling(throughput, cores))} msg/s: the most a worker "
            "that cost nothing could reach here, at this run's CPU per message."
            + _noop_floor(results, throughput, cores))
    written = _written_per_message(throughput)
    if written:
        rows.append("")
        rows.append(written)
    correctness = results.get("correctness") or {}
    if correctness:
        markets = correctness.get("markets") or {}
        events = correctness.get("events") or {}
        rows.append("")
        rows.append(
            f"Correctness (one worker): markets.v1 latest per key vs `replay`: "
            f"{_fmt(markets.get('matched'))}/{_fmt(markets.get('compared'))} equal "
            f"({'OK' if markets.get('ok') else 'MISMATCH'}); events.v1: "
            f"{_fmt(events.get('matched'))}/{_fmt(events.get('compared'))} "
            f"({'OK' if events.get('ok') else 'MISMATCH'}); MySQL markets count and version "
            f"sum {'equal' if correctness.get('mysql_ok') else 'DIFFERENT'}.")
    scale = results.get("scale_out") or {}
    if scale.get("correctness"):
        ok = (scale["correctness"].get("markets") or {}).get("ok")
        rows.append(f"Two workers: markets.v1 {'equal to' if ok else 'DIFFERENT from'} the "
                    f"reference.")
    return "\n".join(rows)


def _throughput_runs(results: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    ceilings = results.get("ceilings") or {}
    return [
        ("platform, one worker, everything on", results.get("throughput")),
        ("platform, two workers", results.get("scale_out")),
        ("raw aiokafka passthrough", ceilings.get("passthrough")),
        ("do-nothing Faust agent (take_events)", ceilings.get("faust_noop")),
        ("naive Faust agent (baseline)", ceilings.get("faust_naive")),
    ]


def _noop_floor(results: dict[str, Any], throughput: dict[str, Any],
                cores: float | None) -> str:
    noop = cpu_per_message((results.get("ceilings") or {}).get("faust_noop") or {})
    if "ceiling" not in noop:
        return ""
    rate = services_ceiling(throughput, cores, noop["ceiling"])
    return (f" Adding the do-nothing Faust agent's own {noop['ceiling']:.3f} ms per message (the"
            f" least a Faust worker spends), {_fmt(rate)} msg/s.")


def _services_named(per_message: dict[str, float]) -> str:
    names = [name for key, name in SERVICES.items() if key in per_message]
    text = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
    return text[:1].upper() + text[1:]


def _batch_messages(worker: dict[str, Any]) -> str:
    mean = worker.get("batch_messages_mean")  # not in results from before 6065104
    return "" if mean is None else f" and {_fmt(mean, 1)} messages on average"


def _worker_latency(worker: dict[str, Any] | None) -> str:
    if not worker:
        return "-"
    return (f"{_fmt(worker.get('batches'))}, {_fmt(worker.get('batch_mean_ms'), 1)}, "
            f"{_fmt(worker.get('ts_to_commit_mean_ms'), 1)}, "
            f"{_fmt(worker.get('batches_over_50ms'))}, "
            f"{_fmt(worker.get('ts_to_commit_over_100ms_pct'), 2)}, "
            f"{_fmt(worker.get('gc_pauses_over_25ms'))}")


def _state_table(state: dict[str, Any]) -> str:
    local = state.get("restart_local") or {}
    changelog = state.get("restart_changelog") or {}
    rss = state.get("rss_bytes")
    disk = state.get("datadir_bytes")
    return "\n".join([
        f"State: {_fmt(state.get('markets'))} markets ({_fmt(state.get('events'))} events), "
        f"{_fmt(state.get('messages'))} messages ingested at {_fmt(state.get('rate_msgs'))} "
        f"msg/s.",
        "",
        "| state and recovery | value |",
        "|---|---|",
        f"| worker RSS with the state held | {_fmt(rss / 2**20 if rss else None)} MiB |",
        f"| RocksDB on disk (APP_DATADIR) | {_fmt(disk / 2**20 if disk else None)} MiB |",
        f"| restart to ready, local store | {_fmt(local.get('ready_s'), 1)} s "
        f"(RSS {_fmt((local.get('rss_bytes') or 0) / 2**20)} MiB) |",
        f"| restart to ready, changelog alone | {_fmt(changelog.get('ready_s'), 1)} s "
        f"(RSS {_fmt((changelog.get('rss_bytes') or 0) / 2**20)} MiB) |",
        f"| MySQL caught up with all markets | {_fmt(state.get('mysql_caught_up_s'), 1)} s "
        f"after ingestion |",
    ])


def _graphql_line(graphql: dict[str, Any]) -> str:
    without, with_ = graphql.get("without") or {}, graphql.get("with") or {}
    load = graphql.get("load") or {}
    timed = ", ".join(f"{name} {_fmt(run.get('median_ms'))} ms"
                      for name, run in (graphql.get("calibration") or {}).items())
    outcomes = ", ".join(f"{k}: {_fmt(v)}" for k, v in (load.get("outcomes") or {}).items())
    return (f"GraphQL beside the feed: feed latency at {_fmt(graphql.get('rate'))} msg/s, "
            f"p50 / p95 / p99, {_fmt(without.get('p50_ms'))} / {_fmt(without.get('p95_ms'))} / "
            f"{_fmt(without.get('p99_ms'))} ms without GraphQL clients, "
            f"{_fmt(with_.get('p50_ms'))} / {_fmt(with_.get('p95_ms'))} / "
            f"{_fmt(with_.get('p99_ms'))} ms with {_fmt(graphql.get('clients'))} clients "
            f"sending \"{graphql.get('request')}\" (p99 ratio "
            f"{_fmt(graphql.get('p99_ratio'), 2)}). The clients got {_fmt(load.get('per_s'), 1)} "
            f"answers/s ({outcomes}), p50 / p99 {_fmt(load.get('p50_ms'))} / "
            f"{_fmt(load.get('p99_ms'))} ms. The costliest allowed requests, one at a time: "
            f"{timed}.")


def _bets_line(bets: dict[str, Any]) -> str:
    checks, feed = bets.get("checks") or {}, bets.get("feed") or {}
    parts = ", ".join(f"{name.replace('_', ' ')} p50 / p99 {_fmt(run.get('p50_ms'))} / "
                      f"{_fmt(run.get('p99_ms'))} ms ({_fmt(run.get('count'))})"
                      for name in ("1_legs", "3_legs", "all")
                      if (run := checks.get(name)))
    outcomes = ", ".join(f"{k}: {_fmt(v)}" for k, v in (checks.get("outcomes") or {}).items())
    return (f"Bet checks beside the feed: {_fmt(checks.get('per_s'), 1)} checks/s answered "
            f"(asked {_fmt(bets.get('checks_per_s'))}/s, open loop, latency from when each was "
            f"due) while the worker took {_fmt(bets.get('rate'))} feed msg/s: {parts}; "
            f"answers {outcomes}. Feed latency beside them p50 / p99 "
            f"{_fmt(feed.get('p50_ms'))} / {_fmt(feed.get('p99_ms'))} ms.")


def _written_per_message(throughput: dict[str, Any]) -> str | None:
    """What the one-worker run wrote per feed message: Kafka offsets by topic, MySQL rows."""
    messages = throughput.get("messages")
    offsets = throughput.get("offsets_written") or {}
    if not messages or not offsets:
        return None
    # The ceilings' own output topics (``bench.*``) share the deployment's prefix.
    per = {name: total / messages for name, total in sorted(offsets.items())
           if not name.startswith("bench.")}
    text = ("Written per feed message in the one-worker run: Kafka offsets (records and "
            f"transaction markers) {sum(per.values()):.2f} ("
            + ", ".join(f"{name} {value:.2f}" for name, value in per.items() if value >= 0.005)
            + ")")
    rows = ((throughput.get("mysql") or {}).get("rows") or {})
    if rows:
        text += (f"; MySQL rows {sum(rows.values()) / messages:.2f} ("
                 + ", ".join(f"{name} {total / messages:.2f}" for name, total in rows.items())
                 + ")")
    return text + "."
