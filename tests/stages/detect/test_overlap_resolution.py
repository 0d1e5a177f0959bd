"""resolve_overlaps: merging the findings of several detectors for one text."""

from __future__ import annotations

import pytest

from docveil.stages.detect.overlaps import resolve_overlaps
from docveil.types import Finding


def f(entity_type: str, start: int, end: int, score: float, recognizer: str = "r") -> Finding:
    return Finding(entity_type, start, end, score, recognizer)


@pytest.mark.parametrize(("findings", "expected"), [
    ([], []),
    ([f("A", 5, 9, 0.5), f("B", 0, 3, 0.5)], [f("B", 0, 3, 0.5), f("A", 5, 9, 0.5)]),
    # higher score wins an overlap, even when shorter
    ([f("LONG", 0, 10, 0.6), f("SHORT", 2, 5, 0.9)], [f("SHORT", 2, 5, 0.9)]),
    # equal scores: the longer span wins
    ([f("SHORT", 2, 5, 0.85), f("LONG", 0, 10, 0.85)], [f("LONG", 0, 10, 0.85)]),
    # touching spans do not overlap
    ([f("A", 0, 4, 0.5), f("B", 4, 8, 0.9)], [f("A", 0, 4, 0.5), f("B", 4, 8, 0.9)]),
    # a winner in the middle removes both neighbours it overlaps, keeps the others
    ([f("L", 0, 5, 0.5), f("M", 4, 12, 0.9), f("R", 11, 15, 0.5), f("FAR", 20, 25, 0.1)],
     [f("M", 4, 12, 0.9), f("FAR", 20, 25, 0.1)]),
    # exact duplicates from two detectors collapse to one
    ([f("EMAIL", 3, 9, 1.0, "x"), f("EMAIL", 3, 9, 1.0, "x")], [f("EMAIL", 3, 9, 1.0, "x")]),
    # empty spans are dropped
    ([f("A", 3, 3, 1.0)], []),
])
def test_overlaps_are_resolved_by_score_then_length(findings: list[Finding], expected: list[Finding]) -> None:
    assert resolve_overlaps(findings) == expected


def test_resolution_does_not_depend_on_the_order_detectors_answered_in() -> None:
    findings = [f("PERSON", 0, 8, 0.85, "spacy"), f("LOCATION", 0, 8, 0.85, "spacy"),
                f("URL", 0, 20, 0.85, "url"), f("EMAIL", 10, 20, 0.85, "email")]
    assert resolve_overlaps(findings) == resolve_overlaps(list(reversed(findings))) == [findings[2]]


def test_with_the_text_what_a_loser_covered_outside_the_winners_stays_covered() -> None:
    text = "Deliver to Jan Kowalski Polna 12, 00-514 Warszawa"
    person = f("PERSON", 11, 29, 0.85)  # "Jan Kowalski Polna"
    address = f("STREET_ADDRESS", 24, 49, 0.85)  # "Polna 12, 00-514 Warszawa", longer: it wins
    assert resolve_overlaps([person, address]) == [address]
    assert resolve_overlaps([person, address], text) == [f("PERSON", 11, 23, 0.85), address]  # "Jan Kowalski"


def test_pieces_need_two_letters_or_digits_and_lose_their_white_space() -> None:
    text = "a Jane Roe, b"
    loser = f("PERSON", 0, 13, 0.5)
    winner = f("PERSON", 2, 10, 0.9)
    assert resolve_overlaps([loser, winner], text) == [winner]  # "a " and ", b" are no pieces
    inner = f("EMAIL", 4, 8, 0.95)
    assert resolve_overlaps([winner, inner], "x Jane Roe y") == [f("PERSON", 2, 4, 0.9), inner, f("PERSON", 8, 10, 0.9)]


def test_pieces_lose_the_commas_that_parted_them_from_the_winner() -> None:
    text = "to Portland, OR 97214; then"
    town = f("LOCATION", 3, 11, 0.85)  # "Portland"
    postcode = f("LOCATION", 3, 21, 0.6)  # "Portland, OR 97214"
    assert resolve_overlaps([town, postcode], text) == [town, f("LOCATION", 13, 21, 0.6)]  # "OR 97214"
