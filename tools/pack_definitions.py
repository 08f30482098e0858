"""Pack the official FHIR R4 definition Bundles into the package as gzip data.

Run from the repository root: ``python tools/pack_definitions.py [SOURCE_DIR]``.
SOURCE_DIR defaults to ``../shared/fhir/definitions/r4`` (HL7 FHIR R4 4.0.1, CC0).
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import orjson

BUNDLES = [
    "profiles-resources.json",
    "profiles-types.json",
    "profiles-others.json",
    "extension-definitions.json",
    "search-parameters.json",
    "valuesets.json",
    "v3-codesystems.json",
    "v2-tables.json",
    "conceptmaps.json",
]


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/fhir/definitions/r4")
    out = Path(__file__).resolve().parent.parent / "fhir_server" / "definitions" / "data"
    out.mkdir(parents=True, exist_ok=True)
    for name in BUNDLES:
        data = orjson.loads((src / name).read_bytes())
        packed = gzip.compress(orjson.dumps(data), compresslevel=9, mtime=0)
        (out / (name + ".gz")).write_bytes(packed)
        print(f"{name}: {len(data.get('entry', []))} entries, {len(packed):,} bytes")


if __name__ == "__main__":
    main()
