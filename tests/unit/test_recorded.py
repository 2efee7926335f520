"""Recorded-feed readers (UOF XML, Betfair stream files, canonical lines), pacing and replay."""

from __future__ import annotations

import asyncio
import bz2
import gzip
import math
import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from feeds.recorded import (
    AS_FAST_AS_POSSIBLE,
    Pacer,
    RecordedFeedError,
    RecordedMessage,
    canonical_key,
    due_offsets,
    read_recorded,
)

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
UOF = RESOURCES / "uof"
BETFAIR = RESOURCES / "betfair" / "BASIC-1.132153978"
DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


def read(feed_format: str, *paths: Path) -> list[RecordedMessage]:
    return list(read_recorded(feed_format, paths))


def error_of(feed_format: str, *paths: Path) -> RecordedFeedError:
    with pytest.raises(RecordedFeedError) as info:
        read(feed_format, *paths)
    return info.value


def write(path: Path, text: str, opener: Any = open) -> Path:
    with opener(path, "wb") as stream:
        stream.write(text.encode())
    return path


# --- UOF ------------------------------------------------------------------------------------

def test_uof_directory_is_read_in_file_name_order_one_message_per_xml_file() -> None:
    messages = read("uof", UOF)
    files = sorted(UOF.glob("*.xml"))
    assert [m.source for m in messages] == [str(f) for f in files]  # LICENSE, *.json skipped
    assert [m.value for m in messages] == [f.read_bytes() for f in files]  # unchanged bytes
    assert [(m.key, m.ts_ms, m.line) for m in messages] == [
        (b"sr:match:18941600", 1564602448841, 1),
        (b"sr:match:16807109", 1547538073717, 1),
        (b"sr:match:123", 1234, 1),
        (b"sr:match:4444", 1239, 1),
    ]


def test_uof_producer_messages_are_keyed_by_product(tmp_path: Path) -> None:
    write(tmp_path / "b.xml", f'{DECLARATION}\n<snapshot_complete request_id="7" '
                              f'timestamp="20" product="1"/>\n')
    write(tmp_path / "a.xml", '<alive product="3" timestamp="10" subscribed="1"/>')
    write(tmp_path / "c.xml", '<bet_stop timestamp="30" groups="all"/>')  # adapter's to reject
    messages = read("uof", tmp_path)
    assert [(m.key, m.ts_ms) for m in messages] == [
        (b"producer:3", 10), (b"producer:1", 20), (None, 30)]


def test_uof_line_file_one_message_per_line(tmp_path: Path) -> None:
    lines = [
        f'{DECLARATION}<odds_change event_id="sr:match:1" timestamp="100" product="1"/>',
        "",
        "   ",
        "<!-- recorded --><alive timestamp='200' product='1' subscribed='1'/>",
        '<bet_stop event_id=" sr:match:2 " product="1" timestamp="300" groups="all"/>',
    ]
    for path, opener in ((tmp_path / "feed.txt", open), (tmp_path / "feed.txt.gz", gzip.open),
                         (tmp_path / "feed.bz2", bz2.open)):
        messages = read("uof", write(path, "\r\n".join(lines) + "\n", opener))
        assert [(m.line, m.ts_ms, m.key) for m in messages] == [
            (1, 100, b"sr:match:1"), (4, 200, b"producer:1"), (5, 300, b"sr:match:2")]
        assert [m.value for m in messages] == [lines[0].encode(), lines[3].encode(),
                                               lines[4].encode()]
        assert {m.source for m in messages} == {str(path)}


def test_uof_single_xml_file_is_one_message(tmp_path: Path) -> None:
    text = f'\ufeff{DECLARATION}\n<!-- a\n comment -->\n<odds_change\n  timestamp="5"\n' \
           f'  event_id="sr:match:9">\n<odds/>\n</odds_change>\n'
    path = write(tmp_path / "one.xml", text)
    [message] = read("uof", path)
    assert (message.line, message.ts_ms, message.key) == (1, 5, b"sr:match:9")
    assert message.value == text.encode()


@pytest.mark.parametrize(("text", "line", "reason"), [
    (f'{DECLARATION}\n\n<odds_change event_id="sr:match:1" product="1"/>', 3,
     "<odds_change> has no timestamp"),
    ('<alive timestamp="" product="1"/>', 1, "<alive> has no timestamp"),
    (f'{DECLARATION}\n<alive timestamp="12:00" product="1"/>', 2,
     "<alive> timestamp '12:00' is not an integer"),
    ("not xml at all", 1, "no XML root element"),
    (f"{DECLARATION}\n", 2, "no XML root element"),
])
def test_uof_document_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int,
                                                    reason: str) -> None:
    path = write(tmp_path / "bad.xml", text)
    error = error_of("uof", path)
    assert (error.source, error.line, error.reason) == (str(path), line, reason)
    assert str(error) == f"{path}:{line}: {reason}"


def test_uof_line_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.log",
                 '<alive timestamp="1" product="1"/>\n\n<alive product="1"/>\n')
    error = error_of("uof", path)
    assert (error.line, error.reason) == (3, "<alive> has no timestamp")


def test_uof_other_documents_are_passed_on_without_a_timestamp(tmp_path: Path) -> None:
    # The fixtures API serves <fixtures_fixture generated_at="..."> with no timestamp.
    shutil.copy(UOF / "api" / "fixture-0.xml", tmp_path / "b.xml")
    write(tmp_path / "a.xml", '<alive product="1" timestamp="10" subscribed="1"/>')
    write(tmp_path / "c.xml", f"{DECLARATION}\n<foo/>")
    write(tmp_path / "d.xml", '<bar event_id="sr:match:5" timestamp="soon"/>')
    write(tmp_path / "e.xml", "<baz product='2' timestamp='40'>text</baz>")
    messages = read("uof", tmp_path)
    assert [(m.key, m.ts_ms) for m in messages] == [
        (b"producer:1", 10), (None, None), (None, None), (b"sr:match:5", None),
        (b"producer:2", 40)]
    assert messages[1].value == (UOF / "api" / "fixture-0.xml").read_bytes()


def test_uof_line_file_passes_other_documents_on(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.log", '<alive timestamp="1" product="1" subscribed="1"/>\n'
                                        '<foo/>\n<alive timestamp="3" product="1"/>\n')
    assert [(m.line, m.ts_ms, m.key) for m in read("uof", path)] == [
        (1, 1, b"producer:1"), (2, None, None), (3, 3, b"producer:1")]


@pytest.mark.parametrize(("text", "reason"), [
    ("<foo", "no XML root element"),
    ("foo/>", "no XML root element"),
    ('<odds_change event_id="sr:match:1" timestamp="1.5"/>',
     "<odds_change> timestamp '1.5' is not an integer"),
    ("<fixture_change event_id='sr:match:1' product='1'/>", "<fixture_change> has no timestamp"),
])
def test_uof_unframed_lines_and_feed_messages_without_timestamp_still_fail(
        tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path / "feed.log", f'<foo/>\n{text}\n<alive timestamp="3" product="1"/>\n')
    error = error_of("uof", path)
    assert (error.source, error.line, error.reason) == (str(path), 2, reason)


def test_uof_directory_without_xml_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "notes.txt", "nothing here")
    error = error_of("uof", tmp_path)
    assert error.line is None and "no .xml files" in str(error) and str(tmp_path) in str(error)


# --- Betfair --------------------------------------------------------------------------------

def test_betfair_file_one_record_per_line_in_order() -> None:
    messages = read("betfair", BETFAIR)
    lines = BETFAIR.read_bytes().splitlines()
    assert len(messages) == len(lines) == 480
    assert [m.value for m in messages] == lines
    assert [m.line for m in messages] == list(range(1, 481))
    assert [m.ts_ms for m in messages] == [orjson.loads(line)["pt"] for line in lines]
    # One key per stream: the file stays in one partition, in order.
    assert {m.key for m in messages} == {b"betfair:BASIC-1.132153978"}


@pytest.mark.parametrize(("name", "opener"), [
    ("1.132153978.gz", gzip.open), ("1.132153978.bz2", bz2.open),
    ("1.132153978", gzip.open), ("1.132153978", bz2.open),  # detected by their magic bytes
])
def test_betfair_compressed_files(tmp_path: Path, name: str, opener: Any) -> None:
    with BETFAIR.open("rb") as plain, opener(tmp_path / name, "wb") as packed:
        shutil.copyfileobj(plain, packed)
    messages = read("betfair", tmp_path / name)
    assert [m.value for m in messages] == BETFAIR.read_bytes().splitlines()
    assert {m.key for m in messages} == {b"betfair:1.132153978"}


def test_betfair_blank_lines_are_skipped_and_missing_pt_is_none(tmp_path: Path) -> None:
    path = write(tmp_path / "stream", '\n{"op":"mcm","pt":5}\n\n  \n{"op":"mcm","pt":"x"}\n'
                                      '{"op":"mcm"}\n')
    messages = read("betfair", path)
    assert [(m.line, m.ts_ms) for m in messages] == [(2, 5), (5, None), (6, None)]
    assert messages[0].value == b'{"op":"mcm","pt":5}'


@pytest.mark.parametrize(("text", "line", "reason"), [
    ('{"op":"mcm","pt":1}\n\n{"op":"mcm",\n', 3, "not JSON"),
    ('{"op":"mcm","pt":1}\n[1, 2]\n', 2, "not a JSON object"),
    ("\n\nNaN\n", 3, "not JSON"),
])
def test_betfair_bad_lines_name_the_file_and_line(tmp_path: Path, text: str, line: int,
                                                  reason: str) -> None:
    path = write(tmp_path / "stream.json", text)
    error = error_of("betfair", path)
    assert (error.source, error.line) == (str(path), line)
    assert error.reason.startswith(reason)
    assert str(error).startswith(f"{path}:{line}: {reason}")


def test_unreadable_archives_name_the_file_and_line(tmp_path: Path) -> None:
    fake = write(tmp_path / "plain.gz", '{"op":"mcm","pt":1}\n')
    error = error_of("betfair", fake)
    assert (error.line, error.reason.split(":")[0]) == (1, "unreadable gzip")

    packed = gzip.compress(b'{"op":"mcm","pt":1}\n' * 5000)
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    error = error_of("betfair", truncated)
    assert error.source == str(truncated) and error.line is not None and error.line > 1
    assert error.reason.startswith("unreadable gzip")

    broken = tmp_path / "broken.bz2"
    broken.write_bytes(b"BZh9" + b"\x00" * 64)
    assert error_of("betfair", broken).reason.startswith("unreadable bzip2")


# --- canonical ------------------------------------------------------------------------------

def test_canonical_lines_keys_and_ts(tmp_path: Path) -> None:
    records = [
        {"type": "odds_change", "event_id": "sr:match:1", "producer": 1, "ts": 10, "markets": []},
        {"type": "alive", "producer": 3, "ts": 20, "subscribed": True},
        {"type": "odds_change", "ts": 30},
        {"type": "odds_change", "event_id": "sr:match:2", "producer": 1},
    ]
    text = "\n".join(orjson.dumps(r).decode() for r in records[:2]) + "\n\n" + \
        "\n".join(orjson.dumps(r).decode() for r in records[2:])
    path = write(tmp_path / "feed.jsonl.gz", text, gzip.open)
    messages = read("canonical", path)
    assert [(m.line, m.ts_ms, m.key) for m in messages] == [
        (1, 10, b"sr:match:1"), (2, 20, b"producer:3"), (4, 30, None), (5, None, b"sr:match:2")]
    assert [orjson.loads(m.value) for m in messages] == records


def test_canonical_key_matches_the_platform_rule() -> None:
    assert canonical_key({"event_id": "sr:match:1", "producer": 1}) == b"sr:match:1"
    assert canonical_key({"event_id": "", "producer": 2}) == b"producer:2"
    assert canonical_key({"producer": True}) is None
    assert canonical_key({}) is None


def test_canonical_line_not_json(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.jsonl", '{"type":"alive","producer":1,"ts":1}\n{oops}\n')
    error = error_of("canonical", path)
    assert (error.line, str(error).startswith(f"{path}:2: not JSON")) == (2, True)


# --- several inputs -------------------------------------------------------------------------

def test_paths_are_read_in_the_order_given(tmp_path: Path) -> None:
    first = write(tmp_path / "b.jsonl", '{"event_id":"e1","ts":2}\n')
    second = write(tmp_path / "a.jsonl", '{"event_id":"e2","ts":1}\n')
    assert [m.key for m in read("canonical", first, second)] == [b"e1", b"e2"]


def test_a_missing_path_fails_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(RecordedFeedError, match=r"missing\.jsonl: no such file"):
        read_recorded("canonical", [BETFAIR, tmp_path / "missing.jsonl"])
    with pytest.raises(ValueError, match="unknown recorded format"):
        read_recorded("csv", [BETFAIR])


# --- pacing ---------------------------------------------------------------------------------

def test_due_offsets_scale_with_speed() -> None:
    timestamps = [1_000, 1_500, 4_000, 4_000, 11_000]
    assert due_offsets(timestamps, 1.0) == [0.0, 0.5, 3.0, 3.0, 10.0]
    assert due_offsets(timestamps, 10.0) == pytest.approx([0.0, 0.05, 0.3, 0.3, 1.0])
    assert due_offsets(timestamps, 0.5) == [0.0, 1.0, 6.0, 6.0, 20.0]
    assert due_offsets(timestamps, AS_FAST_AS_POSSIBLE) == [0.0] * 5


def test_missing_and_decreasing_timestamps_are_due_at_once() -> None:
    assert due_offsets([None, 2_000, None, 5_000, 3_000, 1_000, 6_000], 1.0) == [
        0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 4.0]
    assert due_offsets([], 2.0) == []


@pytest.mark.parametrize("speed", [0.0, -1.0, math.nan])
def test_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be positive"):
        Pacer(speed)


# --- the replay loop, with a stand-in producer ----------------------------------------------

class FakeProducer:
    """Record what would be produced, with when, and acknowledge at once."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes, float]] = []

    async def send(self, topic: str, value: bytes,
                   key: bytes | None = None) -> asyncio.Future[None]:
        self.records.append((topic, key, value, time.monotonic()))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.mark.parametrize("speed", [AS_FAST_AS_POSSIBLE, 10.0])
async def test_replay_sends_every_record_in_order_on_time(tmp_path: Path, speed: float) -> None:
    from cli.replay import ReplayReport, _produce

    lines = [orjson.dumps({"event_id": f"e{i % 3}", "ts": 1_000 + 50 * i}) for i in range(5)]
    path = write(tmp_path / "feed.jsonl", b"\n".join(lines).decode())
    producer, said = FakeProducer(), []
    progress = ReplayReport(said.append)
    await _produce(producer, "t", read_recorded("canonical", [path]), Pacer(speed), progress)
    assert [(topic, value) for topic, _, value, _ in producer.records] == [
        ("t", line) for line in lines]
    assert [key for _, key, _, _ in producer.records] == [b"e0", b"e1", b"e2", b"e0", b"e1"]
    assert progress.messages == 5 and progress.bytes == sum(map(len, lines)) + 5 * 2
    offsets = [at - progress.started for *_, at in producer.records]
    if speed == AS_FAST_AS_POSSIBLE:
        assert offsets[-1] < 0.1
    else:
        # Due at 0, 5, 10, 15, 20 ms: never early (the 1 ms below which it does not sleep aside).
        for offset, due in zip(offsets, (0.0, 0.005, 0.01, 0.015, 0.02), strict=True):
            assert due - 0.0011 <= offset < due + 0.5
    assert "replay done: 5 messages" in progress.summary("t")


async def test_replay_sends_what_precedes_an_unreadable_line_then_stops(tmp_path: Path) -> None:
    from cli.replay import ReplayReport, _produce

    path = write(tmp_path / "feed.jsonl", '{"event_id":"e1","ts":1}\n{"event_id":"e2","ts":2}\n'
                                          '{"event_id":\n{"event_id":"e3","ts":3}\n')
    producer = FakeProducer()
    progress = ReplayReport(lambda _: None)
    with pytest.raises(RecordedFeedError, match=r"feed\.jsonl:3: not JSON"):
        await _produce(producer, "t", read_recorded("canonical", [path]),
                       Pacer(AS_FAST_AS_POSSIBLE), progress)
    assert [key for _, key, _, _ in producer.records] == [b"e1", b"e2"]
    assert progress.messages == 2


class FakeKafkaProducer(FakeProducer):
    """Stand in for ``AIOKafkaProducer`` in the replay command; ``last`` is the one made."""

    last: FakeKafkaProducer | None = None

    def __init__(self, **_config: Any) -> None:
        super().__init__()
        FakeKafkaProducer.last = self

    async def start(self) -> None:
        """Connect to nothing."""

    async def stop(self) -> None:
        """Disconnect from nothing."""


class CommandOutput:
    """What the replay command says, on stdout and stderr."""

    def __init__(self) -> None:
        self.stderr = object()
        self.out: list[str] = []
        self.err: list[str] = []

    def say(self, text: str, file: object = None) -> None:
        (self.err if file is self.stderr else self.out).append(text)


async def run_replay(monkeypatch: pytest.MonkeyPatch, output: CommandOutput,
                     *paths: Path) -> None:
    """Run ``faust -A app replay --format uof --max`` with a stand-in Kafka producer."""
    from cli import replay as cmd_replay

    monkeypatch.setattr(cmd_replay, "AIOKafkaProducer", FakeKafkaProducer)
    FakeKafkaProducer.last = None
    await cmd_replay.replay.__wrapped__(output, paths, "uof", None, True)


def produced() -> list[tuple[str, bytes | None, bytes]]:
    assert FakeKafkaProducer.last is not None
    return [(topic, key, value) for topic, key, value, _ in FakeKafkaProducer.last.records]


async def test_replay_command_passes_other_documents_on(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    from cli.replay import settings

    lines = [b'<alive timestamp="1" product="1" subscribed="1"/>',
             b'<fixtures_fixture generated_at="2019-08-20T12:35:11+00:00"/>', b"<foo/>"]
    output = CommandOutput()
    await run_replay(monkeypatch, output, write(tmp_path / "feed.log",
                                                b"\n".join(lines).decode()))
    topic = settings.topic("feed.raw.uof.v1")
    assert produced() == [(topic, b"producer:1", lines[0]), (topic, None, lines[1]),
                          (topic, None, lines[2])]
    assert not output.err and "replay done: 3 messages" in output.out[-1]


async def test_replay_command_exits_non_zero_on_unreadable_input(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path / "feed.log", "<foo/>\n<alive product='1'/>\n<foo/>\n")
    output = CommandOutput()
    with pytest.raises(SystemExit) as info:
        await run_replay(monkeypatch, output, path)
    assert info.value.code == 1
    assert [value for *_, value in produced()] == [b"<foo/>"]
    assert output.err == [f"replay: unreadable input: {path}:2: <alive> has no timestamp",
                          "replay: stopped after 1 messages"]
