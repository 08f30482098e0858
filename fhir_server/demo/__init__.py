"""Demo data: 50 Synthea patients (synthetic; smart-on-fhir/generated-sample-data, Apache-2.0) as Bundles."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable


def synthea_files() -> list[Traversable]:
    """The packed Synthea transaction Bundles (``*.json.gz``): organizations and practitioners first."""
    folder = resources.files(__package__).joinpath("synthea")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json.gz")), key=lambda f: f.name)
    first = [f for f in files if f.name.startswith(("hospitalInformation", "practitionerInformation"))]
    return first + [f for f in files if f not in first]
