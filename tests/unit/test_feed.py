import orjson
import pytest

from models.feed import MAX_MESSAGE_BYTES, FeedError, canonical_specifiers, decode


def odds_change(**overrides: object) -> dict[str, object]:
    message: dict[str, object] = {
        "type": "odds_change", "event_id": "sr:match:1", "producer": 1, "ts": 1000,
        "markets": [{"id": "18", "specifiers": "total=2.5", "status": "active",
                     "outcomes": [{"id": "12", "odds": 1.9, "active": True},
                                  {"id": "13", "odds": 1.95, "active": True}]}],
    }
    message.update(overrides)
    return message


def test_valid_message_decodes() -> None:
    message = decode(orjson.dumps(odds_change()))
    assert message["markets"][0]["outcomes"][1]["odds"] == 1.95


def test_specifiers_are_canonical() -> None:
    assert canonical_specifiers("variant=sr:x|total=2.5") == "total=2.5|variant=sr:x"
    assert canonical_specifiers("") == ""
    raw = odds_change(markets=[{"id": "1", "specifiers": "b=2|a=1", "outcomes": []}])
    assert decode(orjson.dumps(raw))["markets"][0]["specifiers"] == "a=1|b=2"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1,2]", "not a JSON object"),
        (orjson.dumps({"type": "nope"}), "unknown message type"),
        (orjson.dumps(odds_change(ts="1")), "breaks the contract"),
        (orjson.dumps(odds_change(producer=True)), "breaks the contract"),
        (orjson.dumps(odds_change(event_id=None)), "breaks the contract"),
        (orjson.dumps(odds_change(markets=[{"id": "1", "outcomes": [{"id": "1", "odds": 0}]}])),
         "breaks the contract"),
        (orjson.dumps(odds_change(markets=[{"id": "1", "outcomes": [{"id": "1", "odds": -2}]}])),
         "breaks the contract"),
        (orjson.dumps(odds_change(markets=[{"id": "1", "outcomes": [{"id": "1", "odds": 1e9}]}])),
         "breaks the contract"),
        (orjson.dumps(odds_change(markets=[{"id": "1", "status": "open", "outcomes": []}])),
         "breaks the contract"),
        (orjson.dumps(odds_change(markets=[{"id": "1", "specifiers": "x", "outcomes": []}])),
         "malformed specifier"),
        (b'{"type":"odds_change","ts":NaN}', "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        (b" " * (MAX_MESSAGE_BYTES + 1), "exceeds"),
        (None, "empty record"),
    ],
)
def test_bad_records_raise_feed_error(raw: bytes | None, reason: str) -> None:
    with pytest.raises(FeedError) as info:
        decode(raw)
    assert reason in info.value.reason
