"""Benchmark: our FHIRPath engine vs fhirpathpy on the Synthea R4 data (prints figures; no asserts).

Usage: python bench/bench_fhirpath.py [SYNTHEA_DIR] [--bundles N]

Measures µs per evaluation for a few typical expressions (both engines compiled once, same
resources, same run), then the cost of evaluating every official R4 SearchParameter expression
whose base is the resource's type, per Synthea resource (what search indexing does on each write).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fhir_server import definitions, fhirpath

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "fhir" / "synthea" / "r4"
CASES = [
    ("Patient.name.given", "Patient"),
    ("Observation.code", "Observation"),
    ("Observation.code.coding.where(system = 'http://loinc.org').code", "Observation"),
    ("Patient.telecom.where(system = 'phone' and use = 'home').value", "Patient"),
    ("Observation.subject.where(resolve() is Patient)", "Observation"),
]


def load_resources(directory: Path, bundles: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json")))[:bundles]:
        bundle = orjson.loads(Path(path).read_bytes())
        out.extend(e["resource"] for e in bundle.get("entry", []) if "resource" in e)
    return out


Fn = Callable[[dict[str, Any]], object]


def per_call_us(fn: Fn, resources: list[dict[str, Any]], min_s: float) -> float:
    """Mean µs of fn over the resources, repeated until at least ``min_s`` seconds have passed."""
    calls, start = 0, time.perf_counter()
    while True:
        for r in resources:
            fn(r)
        calls += len(resources)
        elapsed = time.perf_counter() - start
        if elapsed >= min_s:
            return elapsed / calls * 1e6


def fhirpathpy_fn(expr: str) -> Callable[[dict[str, Any]], object] | None:
    try:
        import fhirpathpy
        from fhirpathpy.models import models
    except ImportError:
        return None
    try:
        compiled = fhirpathpy.compile(expr, models["r4"])
    except Exception:
        return None

    def run(resource: dict[str, Any]) -> object:
        return compiled(resource, {})

    return run


def bench_expressions(resources: list[dict[str, Any]], min_s: float) -> None:
    print(f"{'expression':66} {'ours µs':>9} {'fhirpathpy µs':>14} {'speed-up':>9}")
    for expr, rtype in CASES:
        subset = [r for r in resources if r["resourceType"] == rtype]
        ours = fhirpath.compile(expr, rtype)
        ours_us = per_call_us(ours.evaluate, subset, min_s)
        theirs = fhirpathpy_fn(expr)
        theirs_us = None
        if theirs is not None:
            try:
                theirs(subset[0])
                theirs_us = per_call_us(theirs, subset, min_s)
            except Exception as e:  # fhirpathpy lacks resolve()
                print(f"  (fhirpathpy cannot evaluate {expr!r}: {type(e).__name__})")
        ratio = f"{theirs_us / ours_us:8.1f}x" if theirs_us else "      n/a"
        theirs_txt = f"{theirs_us:14.2f}" if theirs_us else f"{'n/a':>14}"
        print(f"{expr[:66]:66} {ours_us:9.2f} {theirs_txt} {ratio}")


def search_expressions() -> dict[str, list[str]]:
    by_base: dict[str, list[str]] = defaultdict(list)
    for sp in definitions.search_parameters():
        if sp.get("expression"):
            for base in sp.get("base", []):
                by_base[base].append(sp["expression"])
    return by_base


def bench_indexing(resources: list[dict[str, Any]], fhirpathpy_resources: int, min_s: float) -> None:
    by_base = search_expressions()
    ours = {b: [fhirpath.compile(e, b) for e in exprs] for b, exprs in by_base.items()}
    count = sum(len(ours.get(r["resourceType"], ())) for r in resources)

    def index_ours(r: dict[str, Any]) -> None:
        for ex in ours.get(r["resourceType"], ()):
            ex.evaluate(r)

    us = per_call_us(index_ours, resources, min_s * 3)
    print(f"\nSearchParameter indexing, ours: {us:.1f} µs per resource on average "
          f"({len(resources)} resources, {count / len(resources):.1f} expressions each, "
          f"{us * len(resources) / count:.2f} µs per expression, ~{1e6 / us:,.0f} resources/s per core)")
    _bench_indexing_fhirpathpy(resources[:fhirpathpy_resources], by_base, us, min_s * 3)


def _bench_indexing_fhirpathpy(
    resources: list[dict[str, Any]], by_base: dict[str, list[str]], ours_us: float, min_s: float
) -> None:
    theirs: dict[str, list[Callable[[dict[str, Any]], object]]] = {}
    failed: set[str] = set()
    for base, exprs in by_base.items():
        for e in exprs:
            fn = fhirpathpy_fn(e)
            if fn is None:
                failed.add(e)
            else:
                theirs.setdefault(base, []).append(fn)
    if not theirs:
        print("fhirpathpy not installed: no comparison")
        return

    def index_theirs(r: dict[str, Any]) -> None:
        for fn in theirs.get(r["resourceType"], ()):
            try:
                fn(r)
            except Exception:
                failed.add(r["resourceType"])

    us = per_call_us(index_theirs, resources, min_s)
    print(f"SearchParameter indexing, fhirpathpy: {us:.1f} µs per resource on the first {len(resources)} "
          f"resources (expressions it could not compile or run skipped: {len(failed)}); "
          f"ours on all: {ours_us:.1f} µs → {us / ours_us:.1f}x")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=str(DEFAULT_DIR))
    parser.add_argument("--bundles", type=int, default=52, help="how many Synthea bundles to load")
    parser.add_argument("--fhirpathpy-resources", type=int, default=1500)
    parser.add_argument("--min-seconds", type=float, default=0.3, help="time per measurement")
    args = parser.parse_args(argv)
    resources = load_resources(Path(args.directory), args.bundles)
    if not resources:
        print(f"no Synthea bundles in {args.directory}")
        return 1
    print(f"{len(resources)} resources from {args.directory}\n")
    bench_expressions(resources, args.min_seconds)
    bench_indexing(resources, args.fhirpathpy_resources, args.min_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
