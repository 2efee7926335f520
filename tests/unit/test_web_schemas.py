"""The consumer-contract schemas in docs/schemas: well-formed, in sync with the feed contract,
and satisfied by everything the pure rules produce (the integration tests check Kafka)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from feeds.generator import OddsGenerator
from models.event import published_event
from models.feed import load_schema
from models.memory import MemoryState, replay
from tests.integration.web_support import CONTRACT_TOPICS, SCHEMAS, scenario, schema


def test_one_valid_schema_per_topic() -> None:
    assert sorted(p.stem for p in SCHEMAS.glob("*.json")) == sorted(CONTRACT_TOPICS)
    for topic in CONTRACT_TOPICS:
        document = json.loads((SCHEMAS / f"{topic}.json").read_text())
        Draft202012Validator.check_schema(document)
        assert document["x-topic"] == topic and document["x-key"] and document["description"]


def test_feed_schema_embeds_the_feed_contract() -> None:
    document = json.loads((SCHEMAS / "feed.v1.json").read_text())
    types = document["properties"]["type"]["enum"]
    for message_type in types:
        expected = load_schema(message_type)
        del expected["$schema"], expected["$id"]
        assert document["$defs"][message_type] == expected, (
            f"docs/schemas/feed.v1.json $defs.{message_type} differs from "
            f"models/schemas/{message_type}.json (copy it without $schema and $id)")
    validator = schema("feed.v1")
    for message in OddsGenerator(5).messages(50, 1_700_000_000_000):
        assert not list(validator.iter_errors(message))
    assert list(validator.iter_errors({"type": "odds_change", "producer": 1, "ts": 1}))
    assert list(validator.iter_errors({"type": "nonsense"}))


def planned_records() -> dict[str, list[dict[str, Any]]]:
    """Everything the pure planner publishes for the scenario, by topic."""
    feed = scenario()
    plans = replay(MemoryState(), feed.messages, 8)
    found: dict[str, list[dict[str, Any]]] = {t: [] for t in CONTRACT_TOPICS}
    for plan in plans:
        # Every table write is a record: the topics are the tables' changelogs.
        found["markets.v1"] += [p.state for p in plan.markets.values()]
        found["events.v1"] += [published_event(p.state) for p in plan.events.values()]
        found["odds-changes.v2"] += [r.value for r in plan.odds_changes]
        found["settlements.v1"] += [r.value for r in plan.settlements]
        found["recovery_requests.v1"] += [r.value for r in plan.recovery_requests]
        found["feed.v1"] += plan.producer_status
    return found


def test_planned_records_match_the_schemas() -> None:
    records = planned_records()
    for topic, values in records.items():
        if topic == "feed.dlq.v1":
            continue
        assert values, topic
        validator = schema(topic)
        for value in values:
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]
            assert not errors, (topic, value, errors)


@pytest.mark.parametrize("topic", ["markets.v1", "events.v1", "odds-changes.v2"])
def test_strict_validation_catches_undocumented_fields(topic: str) -> None:
    value = dict(planned_records()[topic][0])
    value["surprise"] = 1
    assert not list(schema(topic, strict=False).iter_errors(value))
    assert list(schema(topic).iter_errors(value))


def test_odds_changes_list_each_market_version_once() -> None:
    values = planned_records()["odds-changes.v2"]
    versions = [(v["event_id"], v["market_id"], v["specifiers"], v["version"]) for v in values]
    assert len(versions) == len(set(versions))
    assert all(v["changes"] for v in values)
    validator = schema("odds-changes.v2")
    value = copy.deepcopy(values[0])
    value["changes"][0]["surprise"] = 1
    assert not list(schema("odds-changes.v2", strict=False).iter_errors(value))
    assert list(validator.iter_errors(value))
    for bad in ({"kind": "odd", "outcome_id": None, "old": None, "new": "active"},
                {"kind": "price", "outcome_id": None, "old": None, "new": 2.0},
                {"kind": "status", "outcome_id": None, "old": None, "new": 2.0}):
        assert list(validator.iter_errors({**values[0], "changes": [bad]})), bad
    assert list(validator.iter_errors({**values[0], "changes": []}))
