"""Test data for the validator: the HL7 R4 examples and the Synthea R4 bundles, as shipped in the repository.

``tests/data/hl7-examples.json.gz`` holds all 714 HL7 examples (file name → original file text);
the 52 Synthea bundles are the demo data in ``fhir_server/demo/synthea``.
See ``tests/data/README.md``.
"""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_server.demo import synthea_files

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "hl7-examples.json.gz"


@cache
def hl7_examples() -> dict[str, Any]:
    """File name → parsed resource, for the 714 HL7 R4 examples."""
    texts: dict[str, str] = orjson.loads(gzip.decompress(EXAMPLES.read_bytes()))
    return {name: orjson.loads(text) for name, text in texts.items()}


@cache
def synthea_bundles() -> dict[str, Any]:
    """File name → transaction Bundle, for all 52 Synthea bundles."""
    return {f.name.removesuffix(".gz"): orjson.loads(gzip.decompress(f.read_bytes())) for f in synthea_files()}


@pytest.fixture(scope="session")
def examples() -> dict[str, Any]:
    return hl7_examples()


@pytest.fixture(scope="session")
def bundles() -> dict[str, Any]:
    return synthea_bundles()
