"""FHIRPath lexical elements (http://hl7.org/fhirpath/N1/#lexical-elements) and literals (#literals).

Turns an expression into tokens: numbers, strings, date/time literals, identifiers (plain and
`delimited`), ``%`` external constants, ``$`` variables and operators; skips whitespace and comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fhir_server.fhirpath.errors import FHIRPathSyntaxError

NUM, STR, IDENT, DIDENT, DATETIME, TIME, EXT, VAR, OP, EOF = (
    "num", "str", "ident", "dident", "datetime", "time", "ext", "var", "op", "eof",
)

_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_OPS2 = ("<=", ">=", "!=", "!~")
_OPS1 = ".,()[]{}+-*/&|<>=~"
_DT = re.compile(
    r"@(?:T(?P<t>\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)"
    r"|(?P<d>\d{4}(?:-\d{2}(?:-\d{2})?)?)"
    r"(?P<T>T(?:\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?(?:Z|[+-]\d{2}:\d{2})?)?)"
)
_NUM = re.compile(r"\d+(?:\.\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WS = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)+", re.S)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str  # the value: unescaped for strings and delimited identifiers
    pos: int


def tokenize(src: str) -> list[Token]:
    """All tokens of ``src`` followed by an EOF token; raises FHIRPathSyntaxError on bad input."""
    out: list[Token] = []
    i, n = 0, len(src)
    while True:
        m = _WS.match(src, i)
        if m:
            i = m.end()
        if i >= n:
            out.append(Token(EOF, "", i))
            return out
        if src.startswith("/*", i):
            raise FHIRPathSyntaxError("unterminated comment", i, src)
        tok, i = _next(src, i)
        out.append(tok)


def _next(src: str, i: int) -> tuple[Token, int]:
    c = src[i]
    if c in "'`":
        text, end = _quoted(src, i, c)
        return Token(STR if c == "'" else DIDENT, text, i), end
    if c == "@":
        m = _DT.match(src, i)
        if not m or m.end() == i + 1:
            raise FHIRPathSyntaxError("invalid date/time literal", i, src)
        kind = TIME if m.group("t") is not None else DATETIME
        return Token(kind, m.group(0)[1:], i), m.end()
    if c.isdigit():
        m = _NUM.match(src, i)
        assert m is not None
        return Token(NUM, m.group(0), i), m.end()
    if c.isalpha() or c == "_":
        m = _IDENT.match(src, i)
        assert m is not None
        return Token(IDENT, m.group(0), i), m.end()
    if c in "%$":
        return _prefixed(src, i, c)
    two = src[i : i + 2]
    if two in _OPS2:
        return Token(OP, two, i), i + 2
    if c in _OPS1:
        return Token(OP, c, i), i + 1
    raise FHIRPathSyntaxError(f"unexpected character {c!r}", i, src)


def _prefixed(src: str, i: int, c: str) -> tuple[Token, int]:
    kind = EXT if c == "%" else VAR
    j = i + 1
    if c == "%" and j < len(src) and src[j] in "`'":
        text, end = _quoted(src, j, src[j])
        return Token(kind, text, i), end
    m = _IDENT.match(src, j)
    if not m:
        raise FHIRPathSyntaxError(f"expected a name after {c!r}", i, src)
    return Token(kind, m.group(0), i), m.end()


def _quoted(src: str, i: int, quote: str) -> tuple[str, int]:
    """The unescaped text of a quoted string/identifier starting at ``i`` and the index after it."""
    parts: list[str] = []
    j, n = i + 1, len(src)
    while j < n:
        c = src[j]
        if c == quote:
            return "".join(parts), j + 1
        if c == "\\":
            if j + 1 >= n:
                break
            e = src[j + 1]
            if e == "u":
                hexa = src[j + 2 : j + 6]
                if len(hexa) != 4 or not all(h in "0123456789abcdefABCDEF" for h in hexa):
                    raise FHIRPathSyntaxError("invalid \\u escape", j, src)
                parts.append(chr(int(hexa, 16)))
                j += 6
                continue
            if e not in _ESCAPES:
                raise FHIRPathSyntaxError(f"invalid escape \\{e}", j, src)
            parts.append(_ESCAPES[e])
            j += 2
            continue
        parts.append(c)
        j += 1
    raise FHIRPathSyntaxError("unterminated string", i, src)
