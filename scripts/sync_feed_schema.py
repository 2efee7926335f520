"""Rewrite docs/schemas/feed.v1.json's per-type definitions from models/schemas/*.json."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models" / "schemas"
DOC = ROOT / "docs" / "schemas" / "feed.v1.json"


def main() -> None:
    document = json.loads(DOC.read_text(encoding="utf-8"))
    types = sorted(p.stem for p in MODELS.glob("*.json"))
    definitions = {}
    for name in types:
        schema = json.loads((MODELS / f"{name}.json").read_text(encoding="utf-8"))
        del schema["$schema"], schema["$id"]
        definitions[name] = schema
    document["properties"]["type"]["enum"] = types
    document["allOf"] = [{"if": {"properties": {"type": {"const": name}}},
                          "then": {"$ref": f"#/$defs/{name}"}} for name in types]
    document["$defs"] = definitions
    DOC.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
