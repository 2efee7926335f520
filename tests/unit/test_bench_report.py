"""Pure helpers of the benchmark: percentiles, rates, targets, the reference comparison."""

from __future__ import annotations

import orjson
import pytest

from bench import report, run
from bench.kafka_io import updated_ts
from bench.reference import compare, replay_partitions
from bench.workload import Workload
from models.memory import MemoryState, replay


def test_nearest_rank_percentiles() -> None:
    values = sorted(range(1, 101))
    assert report.percentile(values, 50) == 50
    assert report.percentile(values, 99) == 99
    assert report.percentile(values, 100) == 100
    assert report.percentile([], 50) is None
    summary = report.latency_summary([5, 1, 3])
    assert summary == {"samples": 3, "p50_ms": 3, "p95_ms": 5, "p99_ms": 5, "max_ms": 5}


def test_steady_rate_is_the_slope_between_ten_and_ninety_percent() -> None:
    samples = [(0.0, 0), (1.0, 100), (2.0, 300), (6.0, 900), (7.0, 1000)]
    assert report.steady_rate(samples, 1000) == (900 - 100) / (6.0 - 1.0)
    assert report.steady_rate([(0.0, 0)], 1000) is None


def test_targets_come_from_the_results_document() -> None:
    results = {
        "throughput": {"rate_msgs": 7000, "messages": 1000,
                       "mysql": {"lag_s": 2.0, "rows": {"markets": 2500, "events": 300}},
                       "cpu": {"worker0_cores": 0.15, "sink_cores": 0.05, "mariadb_cores": 0.05,
                               "kafka_cores": 0.05, "machine_cores": 0.3, "wall_s": 1.0}},
        "ceilings": {"faust_naive": {"rate_msgs": 1000}, "faust_noop": {
            "rate_msgs": 12000, "messages": 1000, "cpu": {"ceiling_cores": 0.1, "wall_s": 1.0}},
                     "passthrough": {"rate_msgs": 35000}},
        "latency": [{"offered_rate": 1000.0, "nominal": True, "p99_ms": 40},
                    {"offered_rate": 5000.0, "nominal": True, "p99_ms": 120},
                    {"offered_rate": 5600.0, "nominal": False, "p99_ms": 300}],
        "state": {"rss_bytes": 2**29, "restart_local": {"ready_s": 4.0},
                  "restart_changelog": {"ready_s": 70.0}},
    }
    values = report.summary(results)
    assert values["ratio_naive"] == 7.0 and values["p99_80"] == 300
    assert values["worker_cpu_ms"] == 0.15 and values["all_cpu_ms"] == 0.3
    assert values["worker_vs_noop"] == pytest.approx(1.5)
    assert values["mysql_rows_per_msg"] == 2.8
    table = report.targets_table(results)
    assert "| latency p99 at 80% of the measured maximum (ms) | 300 | <= 250 | no |" in table
    assert "| throughput / naive Faust agent's | 7.00 | >= 4 | yes |" in table
    assert "| worker CPU per feed message (ms) | 0.150 | <= 0.16 | yes |" in table
    assert "| MySQL rows per feed message | 2.80 | <= 4 | yes |" in table
    assert "restart to ready from the topics alone (s) | 70.00 | <= 30 | no" in table
    assert "Run" in report.render({**results, "machine": {}, "options": {}})


def test_the_workers_own_time_split_is_reported() -> None:
    worker = {"batches": 700, "batch_mean_ms": 127.5, "batch_seconds": 88.7,
              "planning_seconds": 60.1, "transaction_seconds": 22.9, "batch_messages_mean": 285.7}
    text = report.render({"throughput": {"seconds": 106.1, "worker_time": [worker]},
                          "machine": {}, "options": {}})
    assert ("own time in the one-worker run (106 s): 700 batches of 127.5 ms and 285.7 "
            "messages on average, 88.7 s in all, "
            "of which planning and staging 60.1 s and waiting for the batches' transactions "
            "22.9 s.") in text
    del worker["batch_messages_mean"]  # results from before the metric
    assert "700 batches of 127.5 ms, 88.7 s in all" in report.render(
        {"throughput": {"seconds": 106.1, "worker_time": [worker]}, "machine": {}, "options": {}})
    assert "own time" not in report.render({"throughput": {"worker_time": []},
                                            "machine": {}, "options": {}})


def test_cpu_per_message_gives_the_ceiling_of_a_worker_that_cost_nothing() -> None:
    run = {"messages": 1000, "cpu": {"kafka_cores": 0.05, "mariadb_cores": 0.1,
                                     "sink_cores": 0.05, "worker0_cores": 0.2,
                                     "machine_cores": 0.45, "other_cores": 0.05, "wall_s": 10.0}}
    per_message = report.cpu_per_message(run)
    assert per_message == {"kafka": 0.5, "mariadb": 1.0, "sink": 0.5, "worker0": 2.0}
    assert report.services_ceiling(run, 2) == 1000.0  # 2 cores / 2 ms of services per message
    text = report.render({"throughput": run, "machine": {"cores": 2}, "options": {}})
    assert ("CPU per feed message in the one-worker run (ms): kafka 0.500, mariadb 1.000, "
            "sink 0.500, worker0 2.000. The sink, MariaDB and the broker alone would fill the "
            "machine's 2 cores at 1,000 msg/s") in text
    noop = {"messages": 1000, "cpu": {"ceiling_cores": 0.05, "wall_s": 10.0}}  # 0.5 ms/msg
    assert report.services_ceiling(run, 2, 0.5) == 800.0
    assert ("Adding the do-nothing Faust agent's own 0.500 ms per message (the least a Faust "
            "worker spends), 800 msg/s.") in report.render(
        {"throughput": run, "ceilings": {"faust_noop": noop}, "machine": {"cores": 2},
         "options": {}})
    assert "do-nothing Faust agent's own" not in text
    inline = {**run, "cpu": {k: v for k, v in run["cpu"].items() if k != "sink_cores"}}
    assert "MariaDB and the broker alone would fill the machine's 2 cores at 1,333 msg/s" in (
        report.render({"throughput": inline, "machine": {"cores": 2}, "options": {}}))
    assert report.cpu_per_message({"messages": 1000, "cpu": {}}) == {}
    assert report.services_ceiling({"messages": 0, "cpu": run["cpu"]}, 2) is None
    assert "CPU per feed message in the one-worker run" not in report.render(
        {"throughput": {"messages": 0}, "machine": {}, "options": {}})


def test_updated_ts_is_read_without_parsing() -> None:
    value = orjson.dumps({"event_id": "e", "outcomes": [{"id": "1"}], "updated_ts": 1234567,
                          "version": 3})
    assert updated_ts(value) == 1234567
    assert updated_ts(b'{"version": 1}') is None


def test_reference_by_partition_equals_one_replay_and_compares_parsed_json() -> None:
    feed = Workload(events=40, seed=5).generate(3000)
    whole = MemoryState()
    replay(whole, [orjson.loads(v) for v in feed.values], 8, now_ms=0)
    parts = [replay_partitions(feed, 8, frozenset(range(i, 8, 2))) for i in range(2)]
    merged = {**parts[0].markets, **parts[1].markets}
    assert set(merged) == set(whole.markets)
    assert sum(p.version_sum for p in parts) == sum(s["version"] for s in whole.markets.values())

    latest = {k.encode(): orjson.dumps(orjson.loads(v), option=orjson.OPT_SORT_KEYS)
              for k, v in merged.items()}
    assert compare(merged, latest).ok
    key = next(iter(merged))
    latest[key.encode()] = b'{"version": 0}'
    latest[b"extra"] = b"{}"
    result = compare(merged, latest)
    assert not result.ok and result.different == [key] and result.unexpected == ["extra"]


def test_worker_histograms_count_the_tail_between_two_scrapes() -> None:
    from bench.run import worker_histograms

    before = {"odds_batch_processing_seconds_count": 10.0,
              'odds_batch_processing_seconds_bucket{le="0.05"}': 9.0,
              "odds_end_to_end_latency_seconds_count": 100.0,
              'odds_end_to_end_latency_seconds_bucket{le="0.1"}': 90.0,
              'odds_gc_pause_seconds_count{generation="1"}': 4.0,
              'odds_gc_pause_seconds_sum{generation="1"}': 0.1,
              'odds_gc_pause_seconds_bucket{generation="1",le="0.025"}': 3.0}
    after = {"odds_batch_processing_seconds_count": 110.0,
             "odds_batch_processing_seconds_sum": 2.0,
             'odds_batch_processing_seconds_bucket{le="0.05"}': 105.0,
             "odds_end_to_end_latency_seconds_count": 500.0,
             'odds_end_to_end_latency_seconds_bucket{le="0.1"}': 487.0,
             'odds_gc_pause_seconds_count{generation="0"}': 50.0,
             'odds_gc_pause_seconds_sum{generation="0"}': 0.1,
             'odds_gc_pause_seconds_bucket{generation="0",le="0.025"}': 50.0,
             'odds_gc_pause_seconds_count{generation="1"}': 6.0,
             'odds_gc_pause_seconds_sum{generation="1"}': 0.16,
             'odds_gc_pause_seconds_bucket{generation="1",le="0.025"}': 4.0,
             "odds_batch_messages_sum": 25_000.0,
             'odds_batch_messages_bucket{le="500.0"}': 20.0,
             'odds_batch_messages_bucket{le="1000.0"}': 100.0,
             'odds_batch_messages_bucket{le="+Inf"}': 100.0}
    seen = worker_histograms(before, after)
    assert seen["batch_messages_mean"] == 250.0
    assert seen["batch_messages_le"] == {500: 20, 1000: 100}
    assert seen["batches"] == 100 and seen["batches_over_50ms"] == 4
    assert seen["ts_to_commit_over_100ms_pct"] == 0.75  # 3 of 400
    assert seen["gc_collections"] == [50, 2, 0]
    assert seen["gc_mean_pause_ms"] == [2.0, 30.0, None]
    assert seen["gc_pauses_over_25ms"] == 1  # generation 1: 2 more, 1 more within 25 ms
    run = {"label": "1,000 msg/s", "offered_rate": 1000.0, "worker": seen}
    text = report.render({"latency": [run], "machine": {}, "options": {}})
    assert "| 100, 20.0, 0.0, 4, 0.75, 1 |" in text
    assert worker_histograms({}, {})["ts_to_commit_over_100ms_pct"] is None


def test_docs_keep_the_hand_written_sections_and_replace_the_rendered_run() -> None:
    text = ("# Performance\n\n## Latest results\n\nHand-written prose.\n\n### A section\n\n"
            "### Run bench1 (old)\n\nold table\n\nFull numbers: `old.json` (not committed).\n")
    new = run.docs_with_run(text, "### Run bench2 (new)\n\nnew table", "bench/results/new.json")
    assert new == ("# Performance\n\n## Latest results\n\nHand-written prose.\n\n### A section\n\n"
                   "### Run bench2 (new)\n\nnew table\n\n"
                   "Full numbers: `bench/results/new.json` (not committed).\n")
    fresh = run.docs_with_run(None, "### Run bench2 (new)", "x.json")
    assert fresh.startswith("# Performance") and "## How to reproduce" in fresh
    assert fresh.endswith("## Latest results\n\n### Run bench2 (new)\n\n"
                          "Full numbers: `x.json` (not committed).\n")


def test_ingestor_rates_are_targets_whatever_their_bench_calls_them() -> None:
    results = {"ingest": {
        "uof": report.ingest_summary({"messages": 200_000, "messages_per_second": 12_000,
                                      "ingestor_cpu_us_per_message": 41.5,
                                      "publisher_messages_per_second": 15_000}),
        "betfair": report.ingest_summary({"messages": 200_000, "messages_per_s": 9_000,
                                          "cpu_us_per_message": 7.5})}}
    values = report.summary(results)
    assert values["ingest_uof_rate"] == 12_000 and values["ingest_betfair_rate"] == 9_000
    table = report.targets_table(results)
    assert "| UOF ingestor, AMQP to Kafka (msg/s) | 12,000 | >= 10000 | yes |" in table
    assert "| Betfair ingestor, Exchange Stream to Kafka (msg/s) | 9,000 | >= 10000 | no |" \
        in table
    rendered = report.render(results)
    assert "| UOF over AMQP (RabbitMQ) | 200,000 | 12,000 | 41.5 | 15,000 |" in rendered
