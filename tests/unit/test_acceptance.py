"""Bet acceptance rules, the pending-ticket watch and the request bodies (no I/O)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.bet_watch import Held, TicketWatch
from models.acceptance import (
    TICKET_TTL_MS,
    Answer,
    Asked,
    Policy,
    Reason,
    TicketReason,
    Verdict,
    check_selection,
    correlated,
    decide,
    delay_ms,
    fingerprint,
    potential_return,
    price_accepted,
    stopped_by,
)
from web import bet_bodies
from web.params import BadRequest

D = Decimal


def snapshot(status: str = "active", odds: float | None = 2.5, active: bool = True,
             producer: int = 1, **extra: Any) -> dict[str, Any]:
    return {"event_id": "sr:match:1", "market_id": "1", "specifiers": "", "status": status,
            "producer": producer, "version": 4, "live": producer != 3,
            "outcomes": [{"id": "1", "odds": odds, "active": active},
                         {"id": "2", "odds": 3.0, "active": True}], **extra}


def asked(odds: str = "2.5", outcome_id: str = "1", event_id: str = "sr:match:1") -> Asked:
    return Asked(event_id, "1", "", outcome_id, D(odds))


def test_an_active_price_is_accepted_at_the_current_price() -> None:
    answer = check_selection(asked(), "live", snapshot(producer=3), Policy.EXACT)
    assert answer == Answer(Verdict.ACCEPTED, odds=D("2.5"), version=4,
                            current_odds=D("2.5"), current_version=4)


@pytest.mark.parametrize(("event_status", "market", "outcome", "reason"), [
    (None, snapshot(), "1", Reason.EVENT_NOT_FOUND),
    ("live", None, "1", Reason.MARKET_NOT_FOUND),
    ("ended", snapshot(), "1", Reason.EVENT_ENDED),
    ("closed", snapshot(), "1", Reason.EVENT_ENDED),
    ("live", snapshot("suspended"), "1", Reason.MARKET_NOT_ACTIVE),
    ("live", snapshot("settled"), "1", Reason.MARKET_NOT_ACTIVE),
    ("live", snapshot("suspended", producer_down=True), "1", Reason.PRODUCER_DOWN),
    ("live", snapshot(), "9", Reason.OUTCOME_NOT_FOUND),
    ("live", snapshot(active=False), "1", Reason.OUTCOME_INACTIVE),
    ("live", snapshot(odds=None), "1", Reason.OUTCOME_INACTIVE),
    ("live", snapshot(odds=2.4), "1", Reason.PRICE_CHANGED),
])
def test_each_reason_a_selection_is_refused(event_status: str | None,
                                            market: dict[str, Any] | None, outcome: str,
                                            reason: Reason) -> None:
    answer = check_selection(asked(outcome_id=outcome), event_status, market, Policy.EXACT)
    assert (answer.verdict, answer.reason) == (Verdict.REJECTED, reason)


def test_a_refusal_says_what_the_customer_needs() -> None:
    changed = check_selection(asked(), "live", snapshot(odds=2.4), Policy.EXACT)
    assert (changed.current_odds, changed.current_version) == (D("2.4"), 4)
    stopped = check_selection(asked(), "live", snapshot("suspended"), Policy.EXACT)
    assert stopped.market_status == "suspended"


@pytest.mark.parametrize(("policy", "current", "accepted"), [
    (Policy.EXACT, "2.5", True), (Policy.EXACT, "2.6", False), (Policy.EXACT, "2.4", False),
    (Policy.HIGHER, "2.5", True), (Policy.HIGHER, "2.6", True), (Policy.HIGHER, "2.4", False),
    (Policy.ANY, "1.01", True), (Policy.ANY, "9.0", True),
])
def test_price_policies(policy: Policy, current: str, accepted: bool) -> None:
    assert price_accepted(policy, D("2.5"), D(current)) is accepted
    answer = check_selection(asked(), "live", snapshot(odds=float(current)), policy)
    assert (answer.verdict is Verdict.ACCEPTED) is accepted
    if accepted:
        assert answer.odds == D(current)


def test_the_bet_delay_of_a_market() -> None:
    assert delay_ms(snapshot(producer=1), 3000) == 3000
    assert delay_ms(snapshot(producer=3), 3000) == 0
    assert delay_ms(snapshot(producer=1, bet_delay=5), 3000) == 5000
    assert delay_ms(snapshot(producer=1, bet_delay=0), 3000) == 0
    answer = check_selection(asked(), "live", snapshot(), Policy.EXACT, live_delay_ms=2000)
    assert (answer.verdict, answer.delay_ms) == (Verdict.ACCEPTED, 2000)


def test_a_ticket_fingerprint_covers_selections_odds_stake_and_policy() -> None:
    one, two = asked(), asked(event_id="sr:match:2")
    base = fingerprint([one, two], D(10), Policy.EXACT)
    assert fingerprint([two, one], D("10.00"), Policy.EXACT) == base
    assert fingerprint([one, asked("2.50", event_id="sr:match:2")], D(10), Policy.EXACT) == base
    for other in (fingerprint([one], D(10), Policy.EXACT),
                  fingerprint([one, asked("2.6", event_id="sr:match:2")], D(10), Policy.EXACT),
                  fingerprint([one, two], D(11), Policy.EXACT),
                  fingerprint([one, two], D(10), Policy.ANY)):
        assert other != base


def test_correlated_selections_share_an_event() -> None:
    assert not correlated([asked(), asked(event_id="sr:match:2")])
    assert correlated([asked(), asked(event_id="sr:match:2"), asked(outcome_id="2")])


@given(st.lists(st.decimals("1.01", "50", places=2), min_size=1, max_size=5),
       st.decimals("0.01", "10000", places=2))
def test_the_potential_return_is_the_stake_times_the_product_of_the_odds(
        odds: list[Decimal], stake: Decimal) -> None:
    combined, returns = potential_return(stake, odds)
    product = D(1)
    for price in odds:
        product *= price
    assert combined == product
    assert returns == (stake * product).quantize(D("0.01"))
    assert abs(returns - stake * product) <= D("0.005")


def test_a_half_cent_rounds_to_even() -> None:
    assert potential_return(D(10), [D("1.45"), D("1.55")])[1] == D("22.48")  # 22.475
    assert potential_return(D(1), [D("2.125")])[1] == D("2.12")


def test_a_ticket_is_decided_by_all_its_selections() -> None:
    ok = Answer(Verdict.ACCEPTED, odds=D("2"))
    waits = Answer(Verdict.ACCEPTED, odds=D("3"), delay_ms=1500)
    refused = Answer(Verdict.REJECTED, Reason.PRICE_CHANGED)
    accepted = decide([ok, ok], D(10))
    assert (accepted.verdict, accepted.combined_odds, accepted.potential_return) == \
        (Verdict.ACCEPTED, D(4), D("40.00"))
    pending = decide([ok, waits], D(10))
    assert (pending.verdict, pending.delay_ms, pending.potential_return) == \
        (Verdict.PENDING, 1500, D("60.00"))
    assert decide([ok, refused], D(10)).verdict is Verdict.REJECTED
    correlated_ = decide([ok, ok], D(10), TicketReason.CORRELATED)
    assert (correlated_.verdict, correlated_.reason) == (Verdict.REJECTED,
                                                        TicketReason.CORRELATED)
    assert correlated_.potential_return is None


def test_a_version_that_stops_betting_names_its_status() -> None:
    assert stopped_by([{"kind": "status", "outcome_id": None, "old": "active",
                        "new": "suspended"}]) == "suspended"
    assert stopped_by([{"kind": "status", "outcome_id": None, "old": "suspended",
                        "new": "active"}]) is None
    assert stopped_by([{"kind": "price", "outcome_id": "1", "old": 2.0, "new": 2.1}]) is None
    assert stopped_by([]) is None


def held(market_id: str = "1", expires: int = TICKET_TTL_MS) -> Held:
    return Held(Asked("sr:match:1", market_id, "", "1", D(2)), Policy.EXACT, "t", 1000,
                expires)


def suspension(status: str = "suspended") -> dict[str, Any]:
    return {"changes": [{"kind": "status", "outcome_id": None, "old": "active", "new": status}]}


def test_the_watch_spoils_held_selections_whose_market_stops() -> None:
    watch = TicketWatch()
    assert watch.hold("a", [held("1"), held("2")], now_ms=0)
    assert watch.hold("b", [held("1")], now_ms=0)
    watch.observe([("sr:match:1/2/", suspension("deactivated")),
                   ("sr:match:1/3/", suspension())])
    assert [h.spoiled for h in watch.get("a") or []] == [None, "deactivated"]
    assert [h.spoiled for h in watch.get("b") or []] == [None]
    watch.observe([("sr:match:1/1/", {"changes": [
        {"kind": "price", "outcome_id": "1", "old": 2.0, "new": 2.2}]})])
    assert [h.spoiled for h in watch.get("b") or []] == [None]


def test_the_watch_forgets_expired_tickets_and_stays_bounded() -> None:
    watch = TicketWatch(limit=3)
    assert watch.hold("a", [held("1", expires=100), held("2", expires=100)], now_ms=0)
    assert not watch.hold("b", [held("3"), held("4")], now_ms=50)
    assert not watch.hold("a", [held("5")], now_ms=50)
    assert watch.hold("c", [held("3"), held("4")], now_ms=100)
    assert watch.get("a") is None
    assert set(watch.markets) == {"sr:match:1/3/", "sr:match:1/4/"}
    assert watch.held == 2


def body(**fields: Any) -> bytes:
    ticket = {"selections": [{"event_id": "sr:match:1", "market_id": "18",
                              "specifiers": "total=2.5", "outcome_id": "12", "odds": 1.9}],
              "stake": 10}
    ticket.update(fields)
    return orjson.dumps(ticket)


def test_a_check_body_is_read_whole() -> None:
    request = bet_bodies.check_request(body(price_policy="higher", stake="12.50"))
    assert request.policy is Policy.HIGHER and request.stake == D("12.50")
    assert request.selections[0].market_key == "sr:match:1/18/total=2.5"
    assert request.selections[0].odds == D("1.9")
    assert bet_bodies.check_request(body()).policy is Policy.EXACT


@pytest.mark.parametrize(("fields", "message"), [
    ({"stake": 10.001}, "in cents at most"),
    ({"stake": True}, "stake must be a number"),
    ({"stake": "NaN"}, "finite"),
    ({"ticket_id": "abc"}, "ticket_id must be"),
    ({"allow_same_event": "yes"}, "allow_same_event must be true or false"),
    ({"selections": [1]}, "selections[0] must be a JSON object"),
    ({"selections": [{"event_id": "sr:match:1", "market_id": "1", "outcome_id": "1",
                      "odds": 2, "version": -1}]}, "version must be an integer"),
    ({"selections": [{"event_id": "sr:match:1", "market_id": "1", "outcome_id": "1",
                      "odds": 2, "specifiers": "total"}]}, "specifiers"),
])
def test_a_malformed_check_body_names_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("[", r"\[").replace("]", r"\]")):
        bet_bodies.check_request(body(**fields))
