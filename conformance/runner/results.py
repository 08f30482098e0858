"""Results of a conformance run (http://hl7.org/fhir/R4/testreport.html: pass | fail | error | skip)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class Failed(AssertionError):
    """A check found the server not doing what the specification (or its own statement) says."""


class Skipped(Exception):
    """A check does not apply to this server (e.g. it does not claim the feature)."""


@dataclass(slots=True)
class Check:
    suite: str
    name: str
    status: str  # pass | fail | error | skip
    message: str = ""
    seconds: float = 0.0


@dataclass(slots=True)
class Report:
    base: str
    checks: list[Check] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "error": 0, "skip": 0}
        for c in self.checks:
            out[c.status] += 1
        return out

    @property
    def ok(self) -> bool:
        counts = self.counts()
        return counts["fail"] == 0 and counts["error"] == 0

    def suites(self) -> dict[str, list[Check]]:
        out: dict[str, list[Check]] = {}
        for c in self.checks:
            out.setdefault(c.suite, []).append(c)
        return out


def require(condition: bool, message: str) -> None:
    """Fail the current check unless ``condition`` holds."""
    if not condition:
        raise Failed(message)


@contextmanager
def checking(report: Report, suite: str, name: str) -> Iterator[None]:
    """Run one check's body; its outcome (pass, fail, skip, or error on anything unexpected) is recorded."""
    start = time.monotonic()
    status, message = "pass", ""
    try:
        yield
    except Failed as exc:
        status, message = "fail", str(exc)
    except Skipped as exc:
        status, message = "skip", str(exc)
    except Exception as exc:  # a check that breaks is an error of the run, reported, never a crash
        status, message = "error", f"{type(exc).__name__}: {exc}"
    report.checks.append(Check(suite, name, status, message, time.monotonic() - start))


Step = Callable[[], None]


def run_checks(report: Report, suite: str, steps: list[tuple[str, Step]]) -> None:
    for name, step in steps:
        with checking(report, suite, name):
            step()
