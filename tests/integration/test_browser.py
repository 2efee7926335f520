"""The live odds board in headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from tests.integration.support import FeedProducer, Platform, Worker, eventually, produce
from tests.integration.web_support import (
    ENDED,
    EVENT_IDS,
    LIVE,
    OTHER,
    UPCOMING,
    Feed,
    scenario,
    x12,
)

pytestmark = pytest.mark.timeout(300)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage"]
#: The issue's bound: a price change reaches the page within a second.
PRICE_LATENCY_SECONDS = 1.0


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}; run scripts/browser.sh", pytrace=False)
    return CHROMIUM


@pytest_asyncio.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def served_board(platform: Platform) -> tuple[Worker, Feed]:
    worker = await platform.start_worker()
    feed = scenario()
    await produce(platform.topic("feed.v1"), feed.records())

    async def listed() -> bool:
        status, body = await worker.get("/events")
        return status == 200 and body["total"] == len(EVENT_IDS) and any(
            e["market_counts"].get("suspended") for e in body["events"]
            if e["event_id"] == OTHER)

    await eventually(listed, 60, "the scenario to be listed")
    return worker, feed


async def test_board_shows_events_and_follows_the_stream(
        platform: Platform, browser: Browser, tmp_path: Path) -> None:
    platform.extra_env["PRODUCER_TIMEOUT"] = "3600"
    worker, feed = await served_board(platform)
    page = await browser.new_page(viewport={"width": 1200, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        await page.goto(f"{worker.url}/")
        await page.wait_for_selector("body[data-loaded='true']", timeout=15_000)
        await check_initial_board(page)
        async with FeedProducer() as producer:
            await check_price_change(page, producer, platform, feed)
            await check_suspension(page, producer, platform, feed)
        assert errors == []
        await page.screenshot(path=str(tmp_path / "board.png"), full_page=True)
    except BaseException:
        await page.screenshot(path=str(tmp_path / "board-failure.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'board-failure.png'}; page errors: {errors}")  # noqa: T201
        raise


async def check_initial_board(page: Page) -> None:
    assert await page.locator(".event").count() == len(EVENT_IDS)
    live = page.locator(f".group[data-group='live'] .event[data-event-id='{LIVE}']")
    text = await live.inner_text()
    assert "Arsenal" in text and "Chelsea" in text and "1 \u2013 0" in text and "23:10" in text
    assert await page.locator(
        f".group[data-group='upcoming'] .event[data-event-id='{UPCOMING}']").count() == 1
    assert await page.locator(
        f".group[data-group='finished'] .event[data-event-id='{ENDED}']").count() == 1
    x12_prices = page.locator(f".market[data-key='{LIVE}/1/'] .price .odds")
    assert await x12_prices.all_inner_texts() == ["1.45", "4.20", "7.00"]
    # Producer 2 is down: its event's only market is suspended.
    down = page.locator(f".market[data-key='{OTHER}/219/']")
    assert await down.get_attribute("data-status") == "suspended"
    tennis = page.locator(f".market[data-key='{ENDED}/186/'] .price.won")
    assert "won" in (await tennis.inner_text()).lower()
    settled = page.locator(f".market[data-key='{LIVE}/18/total=1.5']")
    assert await settled.get_attribute("data-status") == "settled"
    assert "won dh 0.5" in (await settled.locator(".price.won").inner_text()).lower()
    assert "lost void 0.5" in (await settled.locator(".price.lost").inner_text()).lower()


async def check_price_change(page: Page, producer: FeedProducer, platform: Platform,
                             feed: Feed) -> None:
    message = feed.add("odds_change", UPCOMING, markets=[x12(2.75, 3.1, 2.6)])
    started = time.monotonic()
    await producer.send(platform.topic("feed.v1"), [(UPCOMING.encode(), orjson.dumps(message))])
    cell = f".market[data-key='{UPCOMING}/1/'] .price[data-outcome='1']"
    # Polled from here: the page's CSP forbids the eval that wait_for_function needs.
    odds = page.locator(f"{cell} .odds")
    while await odds.text_content() != "2.75":
        assert time.monotonic() - started < 5, "the price change never reached the page"
        await asyncio.sleep(0.005)
    elapsed = time.monotonic() - started
    print(f"price change reached the page in {elapsed * 1000:.0f} ms")  # noqa: T201
    assert elapsed < PRICE_LATENCY_SECONDS
    assert "up" in (await page.locator(cell).get_attribute("class") or "")
    away = f".market[data-key='{UPCOMING}/1/'] .price[data-outcome='3']"
    assert "down" in (await page.locator(away).get_attribute("class") or "")


async def check_suspension(page: Page, producer: FeedProducer, platform: Platform,
                           feed: Feed) -> None:
    message = feed.add("odds_change", UPCOMING, markets=[x12(2.8, 3.1, 2.6, "suspended")])
    await producer.send(platform.topic("feed.v1"), [(UPCOMING.encode(), orjson.dumps(message))])
    market = page.locator(f".market[data-key='{UPCOMING}/1/'][data-status='suspended']")
    await market.wait_for(timeout=5_000)
    assert (await market.locator(".market-state").inner_text()).lower() == "suspended"
    opacity = await market.evaluate("node => Number(getComputedStyle(node).opacity)")
    assert opacity < 1


async def open_board(browser: Browser, worker: Worker) -> tuple[Page, list[str]]:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    await page.goto(f"{worker.url}/")
    await page.wait_for_selector("body[data-loaded='true']", timeout=15_000)
    return page, errors


def price(event_id: str, outcome_id: str, market: str = "1/") -> str:
    return f".market[data-key='{event_id}/{market}'] .price[data-outcome='{outcome_id}']"


def slip_row(event_id: str, outcome_id: str, market: str = "1/") -> str:
    return f".slip-row[data-key='{event_id}/{market}/{outcome_id}']"


async def text_becomes(page: Page, selector: str, expected: str, seconds: float = 5) -> None:
    """Poll (the page's CSP forbids the eval that wait_for_function needs)."""
    locator = page.locator(selector)
    deadline = time.monotonic() + seconds
    while (found := await locator.text_content()) != expected:
        assert time.monotonic() < deadline, f"{selector}: {found!r}, never {expected!r}"
        await asyncio.sleep(0.01)


async def test_bet_slip_follows_prices_and_checks_bets(
        platform: Platform, browser: Browser, tmp_path: Path) -> None:
    platform.extra_env["PRODUCER_TIMEOUT"] = "3600"
    worker, feed = await served_board(platform)
    page, errors = await open_board(browser, worker)
    checks: list[dict[str, Any]] = []
    page.on("request", lambda request: checks.append(orjson.loads(request.post_data or "{}"))
            if request.url.endswith("/bets/check") else None)
    try:
        assert await page.locator("#slip.is-empty").count() == 1
        await page.click(price(LIVE, "1"))
        await page.click(price(UPCOMING, "1"))
        assert "selected" in (await page.get_attribute(price(LIVE, "1"), "class") or "")
        assert await page.locator(".slip-row").count() == 2
        live = slip_row(LIVE, "1")
        assert await page.text_content(f"{live} .slip-event") == "Arsenal \u2013 Chelsea"
        assert await page.text_content(f"{live} .slip-market") == "1X2"
        assert await page.text_content(f"{live} .slip-outcome") == "1"
        assert await page.text_content(f"{live} .slip-odds") == "1.45"
        upcoming = slip_row(UPCOMING, "1")
        assert await page.text_content(f"{upcoming} .slip-event") == "Lyon \u2013 Nice"
        assert await page.text_content("#slip-count") == "(2)"
        assert await page.text_content("#slip-odds") == "3.625"       # 1.45 x 2.50
        assert await page.text_content("#slip-return") == "36.25"     # stake 10
        await page.fill("#slip-stake", "20")
        assert await page.text_content("#slip-return") == "72.50"

        # A price change of one selection reaches its row, and the totals.
        async with FeedProducer() as producer:
            message = feed.add("odds_change", UPCOMING, markets=[x12(2.75, 3.1, 2.6)])
            await producer.send(platform.topic("feed.v1"),
                                [(UPCOMING.encode(), orjson.dumps(message))])
            await text_becomes(page, f"{upcoming} .slip-odds", "2.75")
            assert await page.text_content(f"{upcoming} .slip-was") == "was 2.50"
            assert await page.text_content("#slip-odds") == "3.9875"
            await page.fill("#slip-stake", "10")
            # 10 x 3.9875 = 39.875: half-even to cents.
            assert await page.text_content("#slip-return") == "39.88"

            await page.click("#slip-place")
            answer = page.locator("#slip-answer:not([data-status='checking'])")
            await answer.wait_for(timeout=10_000)
            assert await answer.get_attribute("data-status") == "accepted", \
                await answer.inner_text()
            text = await answer.inner_text()
            assert "Accepted" in text and "3.9875" in text and "39.88" in text
            versions = [(await worker.get(f"/events/{event_id}/markets/1"))[1]["version"]
                        for event_id in (LIVE, UPCOMING)]
            assert checks == [{
                "selections": [
                    {"event_id": LIVE, "market_id": "1", "specifiers": "", "outcome_id": "1",
                     "odds": 1.45, "version": versions[0]},
                    {"event_id": UPCOMING, "market_id": "1", "specifiers": "",
                     "outcome_id": "1", "odds": 2.75, "version": versions[1]}],
                "stake": 10, "price_policy": "higher", "allow_same_event": False}]
            assert "Accepted at 2.75" in await page.locator(upcoming).inner_text()

            # A bet stop suspends the live event's markets: the slip says so, the check
            # rejects the ticket with that selection's reason.
            message = feed.add("bet_stop", LIVE, groups="all")
            await producer.send(platform.topic("feed.v1"), [(LIVE.encode(), orjson.dumps(message))])
        await page.locator(f"{live}[data-state='suspended']").wait_for(timeout=5_000)
        assert await page.text_content(f"{live} .slip-state") == "suspended"
        await page.click("#slip-place")
        answer = page.locator("#slip-answer[data-status='rejected']")
        await answer.wait_for(timeout=10_000)
        assert "One selection was not accepted" in await answer.inner_text()
        assert await page.get_attribute(live, "data-answer") == "rejected"
        assert await page.text_content(f"{live} .slip-reason") == "Market suspended"
        assert await page.text_content(f"{upcoming} .slip-reason") == "Available at 2.75"
        await page.screenshot(path=str(tmp_path / "slip-rejected.png"))

        # The x of a row, or its price clicked again, takes a selection off the slip.
        await page.click(f"{live} .slip-remove")
        assert await page.locator(".slip-row").count() == 1
        assert "selected" not in (await page.get_attribute(price(LIVE, "1"), "class") or "")
        await page.click(price(UPCOMING, "1"))
        assert await page.locator("#slip.is-empty").count() == 1
        assert await page.is_disabled("#slip-place")

        # Two selections of one event are correlated: the ticket is refused as a whole.
        await page.click(price(UPCOMING, "1"))
        await page.click(price(UPCOMING, "2"))
        await page.click("#slip-place")
        answer = page.locator("#slip-answer[data-status='rejected']")
        await answer.wait_for(timeout=10_000)
        assert "Selections from the same event cannot be combined" in await answer.inner_text()
        assert errors == []
        await page.screenshot(path=str(tmp_path / "slip.png"), full_page=True)
    except BaseException:
        await page.screenshot(path=str(tmp_path / "slip-failure.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'slip-failure.png'}; page errors: {errors}")  # noqa: T201
        raise


async def test_bet_slip_waits_out_a_bet_delay(
        platform: Platform, browser: Browser, tmp_path: Path) -> None:
    platform.extra_env["PRODUCER_TIMEOUT"] = "3600"
    platform.extra_env["LIVE_BET_DELAY_MS"] = "1500"
    worker, feed = await served_board(platform)
    page, errors = await open_board(browser, worker)
    sent: list[tuple[float, dict[str, Any]]] = []
    page.on("request", lambda request: sent.append(
        (time.monotonic(), orjson.loads(request.post_data or "{}")))
        if request.url.endswith("/bets/check") else None)
    row = slip_row(UPCOMING, "1")
    try:
        await page.click(price(UPCOMING, "1"))
        async with page.expect_response(lambda r: r.url.endswith("/bets/check")) as first:
            await page.click("#slip-place")
        pending = await (await first.value).json()
        assert pending["status"] == "pending" and pending["check_after_ms"] > 0
        await page.locator("#slip-answer[data-status='pending']").wait_for(timeout=1_000)
        countdown = await page.text_content("#slip-answer .answer-countdown") or ""
        assert countdown.startswith("Checking again in 1."), countdown
        assert await page.get_attribute(row, "data-answer") == "pending"
        assert await page.is_disabled("#slip-place")
        answer = page.locator("#slip-answer[data-status='accepted']")
        await answer.wait_for(timeout=10_000)
        assert "2.50" in await answer.inner_text() and "25.00" in await answer.inner_text()
        # The same request again, with the ticket, once the delay was over.
        (asked_at, asked), (again_at, again) = sent
        assert again == {**asked, "ticket_id": pending["ticket_id"]}
        assert again_at - asked_at >= pending["check_after_ms"] / 1000 - 0.05

        # A suspension during the delay: the ticket sent again is rejected.
        sent.clear()
        await page.click("#slip-place")
        await page.locator("#slip-answer[data-status='pending']").wait_for(timeout=5_000)
        async with FeedProducer() as producer:
            message = feed.add("odds_change", UPCOMING,
                               markets=[x12(2.5, 3.1, 2.9, "suspended")])
            await producer.send(platform.topic("feed.v1"),
                                [(UPCOMING.encode(), orjson.dumps(message))])
        await page.locator(f"{row}[data-state='suspended']").wait_for(timeout=5_000)
        answer = page.locator("#slip-answer[data-status='rejected']")
        await answer.wait_for(timeout=10_000)
        assert len(sent) == 2 and sent[1][1]["ticket_id"]
        assert await page.text_content(f"{row} .slip-reason") == \
            "Market suspended during the bet delay"
        assert errors == []
    except BaseException:
        await page.screenshot(path=str(tmp_path / "delay-failure.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'delay-failure.png'}; page errors: {errors}")  # noqa: T201
        raise
