"""The engine on hostile input: client regexes run with a timeout, numbers stay within the FHIRPath
ranges (N1 §Integer: 32-bit signed; §Decimal: below 10^28; §6.6 Math: an overflow is empty), and
collections and strings cannot grow without bound. Every failure is a FHIRPathError."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from fhir_server import fhirpath
from fhir_server.fhirpath import FHIRPathExecutionError, FHIRPathSyntaxError
from fhir_server.fhirpath.functions import strings

PATIENT: dict[str, Any] = {"resourceType": "Patient", "name": [{"family": "A"}]}


def ev(expression: str) -> list[Any]:
    return fhirpath.evaluate(PATIENT, expression)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # Integer is 32-bit signed: results outside are empty, values at the bounds are kept
        ("2147483647 + 1", []),
        ("-2147483648 - 1", []),
        ("-2147483648", [-2147483648]),
        ("2147483647", [2147483647]),
        ("(0 - 2147483647 - 1) * -1", []),
        ("65536 * 65536", []),
        ("46340 * 46340", [2147395600]),
        ("2.power(31)", []),
        ("2.power(30)", [1073741824]),
        ("(-2).power(31)", [-2147483648]),
        ("10.power(99999999)", []),
        ("1.power(99999999)", [1]),
        ("0.power(99999999)", [0]),
        ("10.0.power(99999999)", []),
        ("10.0.power(27)", [Decimal("1E+27")]),
        ("10.0.power(28)", []),
        ("1000000.0.exp()", []),
        ("1.0.exp() > 2.71", [True]),
        ("99999999999999999999999999999.0 * 10", []),
        ("9999999999999999999999999999.0 + 1", []),
        ("1.0 / 0.00000000000000000000000001", [Decimal("1E+26")]),
        ("1.0 / 0.0000000000000000000000000001", []),
        ("5.5.floor()", [5]),
        ("99999999999999999999.5.floor()", []),
        ("1.round(99999999)", []),
        # toInteger() of a string beyond 32 bits is empty, like any string that does not convert
        ("'2147483647'.toInteger()", [2147483647]),
        ("'-2147483648'.toInteger()", [-2147483648]),
        ("'2147483648'.toInteger()", []),
        ("'" + "9" * 5000 + "'.toInteger()", []),
        ("'" + "9" * 5000 + "'.convertsToInteger()", [False]),
        ("'" + "9" * 5000 + ".5'.toDecimal() > 0", [True]),
        # dates live in the years 1..9999: moving beyond is empty
        ("@2000-01-01 + 1 day", [fhirpath.Date(2000, 1, 2, date_only=True)]),
        ("@2000-01-01 + 9999999999999 days", []),
        ("@9999-12-31 + 1 day", []),
        ("@0001-01-01 - 1 day", []),
        ("@2000-01-01 + 8000 years", []),
        ("@2000-01-01T10:00:00Z + 99999999999999999999 milliseconds", []),
        ("@T10:00 + 999999999999999999999999 hours", []),
        ("@T23:00 + 2 hours", [fhirpath.Time(1, 0)]),
    ],
)
def test_results_stay_in_range(expression: str, expected: list[Any]) -> None:
    assert ev(expression) == expected


@pytest.mark.parametrize("literal", ["2147483648", "9" * 11, "1" + "0" * 5000])
def test_integer_literals_beyond_32_bits_are_syntax_errors(literal: str) -> None:
    with pytest.raises(FHIRPathSyntaxError, match="out of range"):
        fhirpath.compile(f"Patient.name.where({literal} > 0)")


def test_a_large_decimal_or_quantity_literal_is_fine() -> None:
    assert ev("1" + "0" * 40 + ".0 > 1") == [True]
    assert ev("99999999999 'mg' > 1 'mg'") == [True]


def test_catastrophic_regex_times_out() -> None:
    text = "a" * 60 + "!"
    for expr in (f"'{text}'.matches('(a|aa)+$')", f"'{text}'.matchesFull('(a|aa)+')",
                 f"'{text}'.replaceMatches('(a|aa)+$', 'b')"):
        start = time.monotonic()
        with pytest.raises(FHIRPathExecutionError, match="regular expression"):
            ev(expr)
        assert time.monotonic() - start < 10 * strings.REGEX_TIMEOUT + 2


def test_many_slow_matches_share_one_budget() -> None:
    """Fifty matches just under the per-match timeout would block for long: one budget per evaluation."""
    many = {"resourceType": "Patient", "name": [{"family": "a" * 40 + "!"} for _ in range(50)]}
    start = time.monotonic()
    with pytest.raises(FHIRPathExecutionError, match="regular expression"):
        fhirpath.evaluate(many, "Patient.name.where(family.matches('(a|a)*(a|a)*$'))")
    assert time.monotonic() - start < strings.REGEX_BUDGET + 3


@pytest.mark.parametrize("pattern", ["(a{1000}){1000}", "(?:a{65535}){65535}", "a{0,65535}{0,65535}"])
def test_patterns_that_unroll_to_huge_programs_are_refused(pattern: str) -> None:
    """The regex compiler unrolls counted repeats; nested ones would take seconds and gigabytes."""
    start = time.monotonic()
    with pytest.raises(FHIRPathExecutionError, match="repeats too much"):
        ev(f"'x'.matches('{pattern}')")
    assert time.monotonic() - start < 1


def test_the_testers_regex_is_answered_quickly() -> None:
    start = time.monotonic()
    assert ev("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'.matches('^(a+)+$')") == [False]
    assert time.monotonic() - start < 2


def test_regexes_still_work() -> None:
    assert ev("'abc'.matches('b')") == [True]
    assert ev("'abc'.matchesFull('b')") == [False]
    assert ev("'abc'.matchesFull('a.c')") == [True]
    assert ev("'a\nc'.matchesFull('a.c')") == [True]  # single-line mode: '.' matches a newline
    assert ev("'abc'.replaceMatches('(b)', '[$1]')") == ["a[b]c"]
    assert ev("'2024-01'.matches('^[0-9]{4}-[0-9]{2}$')") == [True]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("'x'.matches('" + "a" * (strings.MAX_PATTERN + 1) + "')", "longer than"),
        ("'x'.matches('(unclosed')", "invalid regular expression"),
        ("'x'.replaceMatches('(x)', '$7')", "invalid substitution"),
        ("1.repeat($this + 1)", "repeat"),
        ("'a'.repeat($this & $this)", "longer than"),
        ("'a'.repeat($this + $this)", "longer than"),
        ("(1|2|3|4|5|6|7|8|9|10|11|12|13|14|15|16|17|18|19|20|21|22|23|24|25)"
         ".aggregate($total.combine($total), 1).count()", "combine"),
        ("(1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10)"
         ".select((1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10)))))).count()",
         "select"),
        ("'" + "x" * 1200 + "'.replace('', '" + "y" * 1000 + "')", "replace"),
        ("('x' | 'y').join('" + "z" * (strings.MAX_STRING + 1) + "')", "longer than"),
        ("'a'" + ".encode('hex')" * 30, "more than"),
    ],
)
def test_unbounded_work_is_an_execution_error(expression: str, message: str) -> None:
    start = time.monotonic()
    with pytest.raises(FHIRPathExecutionError, match=message):
        ev(expression)
    assert time.monotonic() - start < 5


def test_repeat_still_finds_every_element_and_distinct_primitives() -> None:
    q = {"resourceType": "Questionnaire", "status": "draft",
         "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "string"}]},
                  {"linkId": "2", "type": "string"}]}
    assert fhirpath.evaluate(q, "Questionnaire.repeat(item).linkId") == ["1", "2", "1.1"]
    assert ev("(1 | 2).repeat(iif($this < 5, $this + 1, {}))") == [2, 3, 4, 5]


def test_unexpected_python_errors_become_execution_errors() -> None:
    """A Python error deep in an evaluation is a FHIRPathExecutionError, never a bare exception."""
    def boom(*_: Any) -> Any:
        raise OverflowError("too big")

    strings._string_fn("encode", 1, 1, boom, "System.String")
    try:
        with pytest.raises(FHIRPathExecutionError, match="OverflowError"):
            fhirpath.compile("'boom'.encode('hex')").evaluate(PATIENT)
    finally:
        strings._string_fn("encode", 1, 1, strings._encode, "System.String")
        fhirpath.compile.cache_clear()
    assert ev("'boom'.encode('hex')") == ["626f6f6d"]


BIG = ("(1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10)"
       ".select((1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10).select($this)))))")


def test_a_long_evaluation_is_stopped() -> None:
    """Each step is bounded, but a chain of them over 100,000 items would still run for long."""
    from fhir_server.fhirpath.context import MAX_SECONDS

    start = time.monotonic()
    with pytest.raises(FHIRPathExecutionError, match="took longer than"):
        ev(BIG + ".sort()" * 40)
    assert time.monotonic() - start < MAX_SECONDS + 3


def test_large_collections_within_bounds_still_evaluate() -> None:
    assert ev(BIG + ".count()") == [100000]
    assert ev(BIG + ".distinct().count()") == [10]
    assert ev(BIG + ".exclude(1 | 2).distinct().count()") == [8]
    assert ev(BIG + ".intersect(3 | 4.0 | 'x')") == [3, 4]
