"""Write-path validation cost (http://hl7.org/fhir/R4/validation.html): µs per resource over Synthea R4.

Every resource of the Synthea transaction Bundles (``$FHIR_SHARED/synthea/r4/*.json``, default
``/work/shared/fhir``; the shipped sample in ``tests/data/validation`` otherwise) is validated
``--rounds`` times; the best round counts. For scale, the same run measures ``orjson.loads`` of the
same resources (the least any server must spend on a JSON body) and prints validation as a ratio
of it, plus the per-type averages.

    python bench/bench_validation.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fhir_server.validation import validate, warm_up  # noqa: E402


def load_resources() -> tuple[str, list[dict[str, Any]]]:
    shared = Path(os.environ.get("FHIR_SHARED", "/work/shared/fhir")) / "synthea" / "r4"
    if shared.is_dir():
        bundles = [orjson.loads(p.read_bytes()) for p in sorted(shared.glob("*.json"))]
        source = f"{len(bundles)} bundles in {shared}"
    else:
        packed = (ROOT / "tests/data/validation/synthea-sample.json.gz").read_bytes()
        sample = orjson.loads(gzip.decompress(packed))
        bundles = list(sample["bundles"].values())
        source = f"{len(bundles)} shipped sample bundles"
    return source, [entry["resource"] for b in bundles for entry in b["entry"]]


def best_of(rounds: int, fn: Callable[[], None]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def per_type(resources: list[dict[str, Any]]) -> dict[str, float]:
    """Mean µs per resource type (one timed pass after the main rounds)."""
    spent: dict[str, list[float]] = defaultdict(list)
    for r in resources:
        start = time.perf_counter()
        validate(r)
        spent[r["resourceType"]].append(time.perf_counter() - start)
    return {t: statistics.fmean(v) * 1e6 for t, v in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    start = time.perf_counter()
    warm_up()
    compile_s = time.perf_counter() - start
    source, resources = load_resources()
    invalid = sum(1 for r in resources if validate(r))
    raw = [orjson.dumps(r) for r in resources]
    n = len(resources)

    def run_validate() -> None:
        for r in resources:
            validate(r)

    def run_parse() -> None:
        for b in raw:
            orjson.loads(b)

    validate_s = best_of(args.rounds, run_validate)
    parse_s = best_of(args.rounds, run_parse)
    us = validate_s / n * 1e6
    print(f"resources: {n} from {source}; invalid: {invalid}")
    print(f"model + specs compiled in {compile_s:.2f} s (once per process)")
    print(f"validate: {us:.1f} µs/resource  ({1e6 / us:,.0f} resources/s on one core; target <= 50 µs)")
    print(f"orjson.loads of the same resources: {parse_s / n * 1e6:.1f} µs/resource")
    print(f"ratio validate / parse: {validate_s / parse_s:.1f}x")
    print("mean µs by type:")
    for name, mean in sorted(per_type(resources).items(), key=lambda kv: -kv[1]):
        print(f"  {name:24} {mean:7.1f}")


if __name__ == "__main__":
    main()
