"""The live odds board in headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

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
