"""The worker's copy of the descriptions topic: records applied, malformed ones skipped."""

from __future__ import annotations

import orjson

from agents.catalog import apply_record
from models.catalog import Catalog

TOTAL = {"market_id": "18", "variant": None, "name": "Total", "groups": ["all"],
         "specifiers": [{"name": "total", "type": "decimal"}],
         "outcomes": [{"id": "12", "name": "over {total}"}]}


def test_records_add_replace_and_delete_descriptions() -> None:
    catalog = Catalog()
    assert apply_record(catalog, b"18", orjson.dumps(TOTAL))
    names = catalog.names("18", "total=2.5", None, None)
    assert names is not None and names.outcomes == {"12": "over 2.5"}
    assert apply_record(catalog, b"18", orjson.dumps({**TOTAL, "name": "Goals"}))
    renamed = catalog.names("18", "total=2.5", None, None)
    assert renamed is not None and renamed.market == "Goals"
    assert apply_record(catalog, b"18", None)  # a tombstone
    assert catalog.names("18", "total=2.5", None, None) is None


def test_malformed_records_change_nothing() -> None:
    catalog = Catalog()
    apply_record(catalog, b"18", orjson.dumps(TOTAL))
    for key, value in ((None, orjson.dumps(TOTAL)), (b"18", b"{not json"),
                       (b"18", b"[1, 2]"), (b"19", orjson.dumps(TOTAL)),
                       (b"18", orjson.dumps({**TOTAL, "outcomes": "x"}))):
        assert not apply_record(catalog, key, value)
    names = catalog.names("18", "total=2.5", None, None)
    assert names is not None and names.market == "Total" and len(catalog) == 1
