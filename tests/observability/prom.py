"""Reading a Prometheus scrape of the server back into numbers (for the observability tests)."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client) -> Samples:
    """Every sample of ``GET /metrics``, keyed by (sample name, labels)."""
    resp = client.get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: Any) -> float:
    return samples.get((name, frozenset((k, str(v)) for k, v in labels.items())), 0.0)


def requests(samples: Samples, interaction: str, type: str = "", status: int = 200, operation: str = "") -> float:
    return value(samples, "fhir_requests_total", interaction=interaction, type=type, operation=operation,
                 status=status)
