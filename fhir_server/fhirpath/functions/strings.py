"""FHIRPath string manipulation (http://hl7.org/fhirpath/N1/#string-manipulation) and the
FHIRPath 2.x additions the HL7 suite uses (lastIndexOf, matchesFull, trim, split, join, encode,
decode, escape, unescape).

Every function takes a single String input (empty input → empty; a non-string input is an error)
and returns empty when a required argument is empty.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import regex

from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.functions import BOOL, INTEGER, STRING, one, simple
from fhir_server.fhirpath.items import Item, boolean, kind_of

StrFn = Callable[..., Any]


def _input(items: list[Item], name: str) -> str | None:
    it = one(items, name + "()")
    if it is None or it.value is None:
        return None
    if kind_of(it) != "str":
        raise FHIRPathExecutionError(f"{name}() expects a String input, got {it.type}")
    return str(it.value)


def _args(args: tuple[list[Item], ...], name: str) -> list[Any] | None:
    out = []
    for a in args:
        it = one(a, name + "() argument")
        if it is None:
            return None
        out.append(it.value)
    return out


def _string_fn(name: str, lo: int, hi: int, fn: StrFn, out_type: str) -> None:
    def run(ctx: Ctx, items: list[Item], *args: list[Item]) -> list[Item]:
        s = _input(items, name)
        if s is None:
            return []
        values = _args(args, name)
        if values is None:
            return []
        result = fn(s, *values)
        if result is None:
            return []
        if type(result) is str and len(result) > MAX_STRING:  # encode('hex') doubles, and chains
            raise FHIRPathExecutionError(f"{name}() would build more than {MAX_STRING} characters")
        if isinstance(result, list):
            return [Item(r, "System.String") for r in result]
        if isinstance(result, bool):
            return boolean(result)
        return [Item(result, out_type)]

    out = {"System.Boolean": BOOL, "System.Integer": INTEGER}.get(out_type, STRING)
    simple(name, lo, hi, out=out)(run)


REGEX_TIMEOUT = 0.25
"""Seconds one match of a client's regular expression may take (catastrophic backtracking)."""
MAX_PATTERN = 1000
"""The longest regular expression accepted, in characters."""
MAX_STRING = 1_000_000
"""The longest string a string function may build, in characters."""


@lru_cache(maxsize=256)
def client_regex(pattern: str) -> regex.Pattern[str]:
    """The compiled pattern (cached). Expressions come from clients (FHIRPath Patch paths, profile
    invariants, SearchParameters), so patterns run under the ``regex`` package with a timeout."""
    if len(pattern) > MAX_PATTERN:
        raise FHIRPathExecutionError(f"regular expression longer than {MAX_PATTERN} characters")
    if _expanded_size(pattern) > MAX_EXPANSION:
        # the regex compiler unrolls counted repeats: (?:a{65535}){65535} takes seconds and gigabytes
        raise FHIRPathExecutionError(f"regular expression {pattern[:100]!r} repeats too much")
    try:
        return regex.compile(pattern, regex.DOTALL)
    except (regex.error, ValueError, OverflowError, RecursionError) as e:
        raise FHIRPathExecutionError(f"invalid regular expression {pattern!r}: {e}") from e


MAX_EXPANSION = 10_000
"""The largest size a pattern may have once its counted repeats ({n}, {n,m}) are unrolled."""
_COUNT = re.compile(r"\{(\d{0,9})(?:,(\d{0,9}))?\}")


def _expanded_size(pattern: str) -> int:
    """An upper estimate of the pattern's size with counted repeats unrolled (nested ones multiply)."""
    limit = MAX_EXPANSION + 1
    frames: list[list[int]] = [[]]  # per open group: the sizes of its atoms so far
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            frames[-1].append(1)
            i += 2
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            frames[-1].append(1)
            i = j + 1
        elif c == "(":
            frames.append([])
            i += 1
        elif c == ")" and len(frames) > 1:
            inner = sum(frames.pop())
            frames[-1].append(max(min(inner, limit), 1))
            i += 1
        elif c == "{" and frames[-1] and (m := _COUNT.match(pattern, i)) and (m.group(1) or m.group(2)):
            bound = max(int(m.group(1) or 0), int(m.group(2) or 0), 1)
            frames[-1][-1] = min(frames[-1][-1] * bound, limit)
            i = m.end()
        else:
            frames[-1].append(1)
            i += 1
    return min(sum(sum(f) for f in frames), limit)


def _timed_out(pattern: str) -> FHIRPathExecutionError:
    return FHIRPathExecutionError(
        f"regular expression {pattern[:100]!r} took too long to evaluate "
        f"(at most {REGEX_TIMEOUT} s per match, {REGEX_BUDGET} s per expression)"
    )


REGEX_BUDGET = 1.0
"""Seconds all the regex matches of one evaluation may take together (many slow matches add up)."""


def _regex_fn(name: str, mode: str, lo: int) -> None:
    """matches() / matchesFull() / replaceMatches(): each match gets what is left of the budget."""

    def run(ctx: Ctx, items: list[Item], *args: list[Item]) -> list[Item]:
        s = _input(items, name)
        values = None if s is None else _args(args, name)
        if s is None or values is None:
            return []
        pattern = str(values[0])
        if mode == "sub" and not pattern:
            return [Item(s, "System.String")]
        compiled = client_regex(pattern)
        timeout = min(REGEX_TIMEOUT, REGEX_BUDGET - ctx.regex_time)
        if timeout <= 0:
            raise _timed_out(pattern)
        start = time.perf_counter()
        try:
            if mode == "search":
                return boolean(compiled.search(s, timeout=timeout) is not None)
            if mode == "full":
                return boolean(compiled.fullmatch(s, timeout=timeout) is not None)
            out = compiled.sub(str(values[1]).replace("$", "\\"), s, timeout=timeout)
            return [Item(_bounded(out), "System.String")]
        except TimeoutError as e:
            raise _timed_out(pattern) from e
        except (regex.error, IndexError) as e:  # a substitution naming a group the pattern lacks
            raise FHIRPathExecutionError(f"invalid substitution for {pattern!r}: {e}") from e
        finally:
            ctx.regex_time += time.perf_counter() - start

    simple(name, lo, lo, out=STRING if mode == "sub" else BOOL)(run)


_regex_fn("matches", "search", 1)
_regex_fn("matchesFull", "full", 1)
_regex_fn("replaceMatches", "sub", 2)


def _bounded(s: str) -> str:
    if len(s) > MAX_STRING:
        raise FHIRPathExecutionError(f"the result would be longer than {MAX_STRING} characters")
    return s


def _substring(s: str, start: Any, length: Any = None) -> str | None:
    if not isinstance(start, int) or start < 0 or start >= len(s):
        return None
    if length is None:
        return s[start:]
    return s[start : start + max(int(length), 0)]


def _encode(s: str, fmt: str) -> str | None:
    raw = s.encode()
    if fmt == "hex":
        return raw.hex()
    if fmt == "base64":
        return base64.b64encode(raw).decode()
    if fmt == "urlbase64":
        return base64.urlsafe_b64encode(raw).decode()
    return None


def _decode(s: str, fmt: str) -> str | None:
    try:
        if fmt == "hex":
            return bytes.fromhex(s).decode()
        if fmt == "base64":
            return base64.b64decode(s).decode()
        if fmt == "urlbase64":
            return base64.urlsafe_b64decode(s).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return None


def _escape(s: str, fmt: str) -> str | None:
    if fmt == "html":
        return html.escape(s, quote=True).replace("&#x27;", "&#39;")
    if fmt == "json":
        return json.dumps(s, ensure_ascii=False)[1:-1]
    return None


def _unescape(s: str, fmt: str) -> str | None:
    if fmt == "html":
        return html.unescape(s)
    if fmt == "json":
        return _JSON_ESCAPE.sub(_json_unescape_one, s)
    return None


_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_JSON_CHARS = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _json_unescape_one(m: re.Match[str]) -> str:
    code = m.group(1)
    if len(code) == 5:
        return chr(int(code[1:], 16))
    return _JSON_CHARS.get(code, code)


def _replace(s: str, pattern: str, substitution: str) -> str:
    if pattern:
        count = s.count(pattern)
        if len(s) + count * (len(substitution) - len(pattern)) > MAX_STRING:
            raise FHIRPathExecutionError(f"replace() would build more than {MAX_STRING} characters")
        return s.replace(pattern, substitution)
    if (len(s) + 1) * len(substitution) + len(s) > MAX_STRING:
        raise FHIRPathExecutionError(f"replace() would build more than {MAX_STRING} characters")
    return "".join(substitution + c for c in s) + substitution


def _split(s: str, sep: str) -> list[str]:
    return s.split(sep) if sep else list(s)


_SPECS: list[tuple[str, int, int, StrFn, str]] = [
    ("indexOf", 1, 1, lambda s, sub: s.find(sub), "System.Integer"),
    ("lastIndexOf", 1, 1, lambda s, sub: s.rfind(sub), "System.Integer"),
    ("substring", 1, 2, _substring, "System.String"),
    ("startsWith", 1, 1, lambda s, p: s.startswith(p), "System.Boolean"),
    ("endsWith", 1, 1, lambda s, p: s.endswith(p), "System.Boolean"),
    ("contains", 1, 1, lambda s, p: p in s, "System.Boolean"),
    ("upper", 0, 0, lambda s: s.upper(), "System.String"),
    ("lower", 0, 0, lambda s: s.lower(), "System.String"),
    ("replace", 2, 2, _replace, "System.String"),
    ("length", 0, 0, len, "System.Integer"),
    ("toChars", 0, 0, list, "System.String"),
    ("trim", 0, 0, lambda s: s.strip(), "System.String"),
    ("split", 1, 1, _split, "System.String"),
    ("encode", 1, 1, _encode, "System.String"),
    ("decode", 1, 1, _decode, "System.String"),
    ("escape", 1, 1, _escape, "System.String"),
    ("unescape", 1, 1, _unescape, "System.String"),
]
for _spec in _SPECS:
    _string_fn(*_spec)


@simple("join", 0, 1, out=STRING)
def _join(ctx: Ctx, items: list[Item], sep: list[Item] | None = None) -> list[Item]:
    separator = "" if not sep else str(sep[0].value)
    return [Item(_bounded(separator.join(str(i.value) for i in items)), "System.String")]
