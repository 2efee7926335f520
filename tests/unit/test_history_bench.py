"""The price history benchmark's pure parts: the versions it writes and its report table."""

from __future__ import annotations

from bench import report
from bench.history_bench import versions


def test_the_written_versions_are_a_market_history() -> None:
    snapshots, changes = versions("sr:match:1", "18", "total=2.5", 100, seed=1, folded_every=3)
    numbers = sorted({s["version"] for s in snapshots} | {c["version"] for c in changes})
    assert numbers == list(range(1, 101))
    # One version in three that changed something has no snapshot.
    assert {c["version"] for c in changes} - {s["version"] for s in snapshots} == {
        c["version"] for c in changes if c["version"] % 3 == 0}
    stamps = [s["updated_ts"] for s in snapshots]
    assert stamps == sorted(stamps)
    assert [s["status"] for s in snapshots if s["version"] % 20 == 0] == ["suspended"] * len(
        [s for s in snapshots if s["version"] % 20 == 0])


def test_the_report_shows_both_latencies_and_their_targets() -> None:
    history = {"versions": 10_000, "requests": 1000, "limit": 500, "folded_every": 3,
               "window": {"p50_ms": 7.9, "p95_ms": 13.5, "p99_ms": 17.05, "max_ms": 30.0,
                          "mean_versions": 487.3},
               "at": {"p50_ms": 0.8, "p95_ms": 2.9, "p99_ms": 6.66, "max_ms": 20.4}}
    table = report.history_table(history)
    assert "| window, limit 500 (mean 487.3 versions) | 7.90 | 13.50 | 17.05 | 30.00 |" in table
    assert "| version in force at an instant | 0.80 | 2.90 | 6.66 | 20.40 |" in table
    assert report.summary({"history": history})["history_p99_ms"] == 17.05
    rendered = report.render({"history": history})
    assert table in rendered and "price history p99" in rendered
