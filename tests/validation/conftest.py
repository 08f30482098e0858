"""Test data for the validator: the HL7 R4 examples and Synthea R4 bundles.

Both are read from the shared data directory when it is there (``$FHIR_SHARED``, default
``/work/shared/fhir``), and otherwise from the copies shipped in ``tests/data/validation/``:
``hl7-examples.json.gz`` (all 714 examples, file name → original file text) and
``synthea-sample.json.gz`` (3 whole patient bundles plus entries covering every JSON path that
occurs in the 50 patient bundles). See ``tests/data/validation/README.md``.
"""

from __future__ import annotations

import gzip
import os
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

DATA = Path(__file__).resolve().parent.parent / "data" / "validation"


def shared_dir() -> Path | None:
    path = Path(os.environ.get("FHIR_SHARED", "/work/shared/fhir"))
    return path if (path / "examples").is_dir() and (path / "synthea" / "r4").is_dir() else None


@cache
def hl7_examples() -> dict[str, Any]:
    """File name → parsed resource, for the 714 HL7 R4 examples."""
    shared = shared_dir()
    if shared is not None:
        return {p.name: orjson.loads(p.read_bytes()) for p in sorted((shared / "examples").glob("*.json"))}
    texts: dict[str, str] = orjson.loads(gzip.decompress((DATA / "hl7-examples.json.gz").read_bytes()))
    return {name: orjson.loads(text) for name, text in texts.items()}


@cache
def synthea_bundles() -> dict[str, Any]:
    """File name → transaction Bundle: all 52 shared bundles, or the 3 shipped ones."""
    shared = shared_dir()
    if shared is not None:
        return {
            p.name: orjson.loads(p.read_bytes()) for p in sorted((shared / "synthea" / "r4").glob("*.json"))
        }
    return dict(_sample()["bundles"])


@cache
def synthea_shape_cover() -> list[dict[str, Any]]:
    """Bundle entries that together hold every JSON path used by the 50 patient bundles."""
    return list(_sample()["shape_cover"])


@cache
def _sample() -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(gzip.decompress((DATA / "synthea-sample.json.gz").read_bytes()))
    return data


@pytest.fixture(scope="session")
def examples() -> dict[str, Any]:
    return hl7_examples()


@pytest.fixture(scope="session")
def shipped_examples() -> dict[str, Any]:
    """The examples as shipped in the repository (whether or not the shared data is there)."""
    texts: dict[str, str] = orjson.loads(gzip.decompress((DATA / "hl7-examples.json.gz").read_bytes()))
    return {name: orjson.loads(text) for name, text in texts.items()}


@pytest.fixture(scope="session")
def bundles() -> dict[str, Any]:
    return synthea_bundles()


@pytest.fixture(scope="session")
def shape_cover() -> list[dict[str, Any]]:
    return synthea_shape_cover()


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if path is None:
        pytest.skip("shared FHIR data not present")
    return path
