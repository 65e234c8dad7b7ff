"""Identifiers: whole-word matching, what counts as identifying, and the keyed form the export reads."""

from __future__ import annotations

import pytest

from assets.sources.readers.identifiers import Identifiers, identifying_words


@pytest.mark.parametrize("text, found", [("a DOE_JANET b", True), ("Doerr", False), ("janet", True),
                                         ("image 12 png", False), ("frame2", False)])
@pytest.mark.parametrize("keyed", [False, True])
def test_identifiers_match_whole_words(text, found, keyed):
    ids = Identifiers(salt=b"s")
    for value in ("Doe^Janet", "Janet", "12", "png", "frame2", "a"):
        ids.add(value)
    assert (ids.keyed() if keyed else ids).found_in(text) is found


def test_words_that_identify_no_one():
    assert identifying_words("Doe Janet 7731942 IM 0001 dcm frame2 Explicit VR Little Endian AX T2 head") == [
        "doe", "janet", "7731942"]


def test_keyed_digests_depend_on_the_salt():
    ids = Identifiers(salt=b"a")
    ids.add("Quincyworth^Janet")
    other = Identifiers(salt=b"b")
    other.add("Quincyworth^Janet")
    assert ids.keyed().digests.isdisjoint(other.keyed().digests) and len(ids.keyed()) == 2  # the two names


def test_names_in_any_script_are_identifiers():
    ids = Identifiers(salt=b"s")
    for value in ("Müller^Jürgen", "山田^太郎"):
        ids.add(value)
    assert ids.found_in("seen by MÜLLER") and ids.found_in("患者 山田 太郎") and not ids.found_in("Muller")
    assert ids.keyed().found_in("jürgen")
