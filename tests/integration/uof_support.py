"""UOF test material shared by the integration tests: a match's XML messages, the recovery
API standing in for Sportradar's, and views of the platform's answer."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.integration.support import ROOT, Platform, Worker, free_port

EVENT = "sr:match:7777"
LIVE, PREMATCH = 1, 3
TOKEN = "test-access-token"
DESCRIPTIONS = ROOT / "feeds" / "descriptions" / "markets.xml"


@dataclass
class RecoveryApi:
    """Sportradar's recovery endpoint, answering 202 and remembering every call."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    async def initiate(self, request: web.Request) -> web.Response:
        self.calls.append({"method": request.method, "product": request.match_info["product"],
                           "query": dict(request.query),
                           "token": request.headers.get("x-access-token")})
        return web.Response(status=202)

    def of(self, product: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["product"] == product]


@contextlib.asynccontextmanager
async def recovery_api() -> AsyncIterator[tuple[RecoveryApi, str]]:
    api = RecoveryApi()
    application = web.Application()
    application.router.add_post("/v1/{product}/recovery/initiate_request", api.initiate)
    runner = web.AppRunner(application)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield api, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def recovering_platform(tmp: Path) -> AsyncIterator[tuple[Platform, RecoveryApi]]:
    """A created platform whose recovery service calls a local stand-in for Sportradar's API
    (producers silent for 4 s are down); destroyed afterwards."""
    async with recovery_api() as (api, url):
        platform = Platform(tmp, extra_env={
            "PRODUCER_TIMEOUT": "4", "UOF_API_URL": url, "UOF_ACCESS_TOKEN": TOKEN,
            "RECOVERY_RETRY_SECONDS": "30"})
        await platform.create()
        try:
            yield platform, api
        finally:
            await platform.destroy()


Record = tuple[bytes, bytes]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


class Uof:
    """UOF XML records of one match, keyed as an ingestor keys them, stamped with increasing
    timestamps."""

    def __init__(self, event: str = EVENT) -> None:
        self.event = event
        self.event_key = event.encode()
        self.ts = 0

    def now(self) -> int:
        self.ts = max(self.ts + 1, int(time.time() * 1000))
        return self.ts

    def odds(self, producer: int, markets: str, request_id: int | None = None) -> Record:
        request = f' request_id="{request_id}"' if request_id is not None else ""
        return self.event_key, (f'<odds_change product="{producer}" event_id="{self.event}" '
                           f'timestamp="{self.now()}"{request}><odds>{markets}</odds>'
                           "</odds_change>").encode()

    def message(self, tag: str, producer: int, body: str = "", **attributes: Any) -> Record:
        attrs = "".join(f' {k}="{v}"' for k, v in attributes.items())
        return self.event_key, (f'<{tag} product="{producer}" event_id="{self.event}" '
                           f'timestamp="{self.now()}"{attrs}>{body}</{tag}>').encode()

    def alive(self, producer: int) -> Record:
        return (f"producer:{producer}".encode(),
                f'<alive product="{producer}" timestamp="{self.now()}" subscribed="1"/>'.encode())

    def snapshot_complete(self, producer: int, request_id: int) -> Record:
        return (f"producer:{producer}".encode(),
                f'<snapshot_complete product="{producer}" request_id="{request_id}" '
                f'timestamp="{self.now()}"/>'.encode())

    def fixture(self) -> Record:
        """The fixture as Sportradar's fixtures API serves it (competitors' names)."""
        return self.event_key, (
            f'<fixtures_fixture generated_at="{iso(self.now())}">'
            f'<fixture id="{self.event}" start_time="{iso(self.now() + 3_600_000)}">'
            '<tournament name="Premier League"><sport name="Soccer"/></tournament>'
            '<competitors><competitor qualifier="home" name="Arsenal"/>'
            '<competitor qualifier="away" name="Chelsea"/></competitors>'
            "</fixture></fixtures_fixture>").encode()


def market(market_id: str, prices: dict[str, float], status: int = 1,
           specifiers: str = "") -> str:
    spec = f' specifiers="{specifiers}"' if specifiers else ""
    outcomes = "".join(f'<outcome id="{o}" odds="{p}" active="1"/>' for o, p in prices.items())
    return f'<market id="{market_id}"{spec} status="{status}">{outcomes}</market>'


def x12(home: float, draw: float, away: float, status: int = 1) -> str:
    return market("1", {"1": home, "2": draw, "3": away}, status)


def total(over: float, under: float) -> str:
    return market("18", {"12": over, "13": under}, specifiers="total=2.5")


def half_x12(home: float) -> str:
    return market("60", {"1": home, "2": 2.2, "3": 4.5})


def both_score(yes: float) -> str:
    return market("29", {"74": yes, "76": 2.0})


async def view(worker: Worker, event: str = EVENT) -> dict[str, Any]:
    status, body = await worker.get(f"/events/{event}")
    return body if status == 200 else {"markets": []}


def by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["market_id"]: m for m in body["markets"]}


async def shows(worker: Worker, want: dict[str, dict[str, Any]], event: str = EVENT) -> bool:
    """Every market named in ``want`` has those field values."""
    markets = by_id(await view(worker, event))
    return all(mid in markets and all(markets[mid].get(k) == v for k, v in fields.items())
               for mid, fields in want.items())


def prices(market: dict[str, Any]) -> list[float]:
    return [o["odds"] for o in market["outcomes"]]

