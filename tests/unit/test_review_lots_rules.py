"""Pure rules of the lot trace: the key of a lot and the bound of a prefix."""

from __future__ import annotations

from safety.review.rules import lots as rules


def test_a_lot_is_looked_for_by_its_normalised_key_whatever_way_it_was_typed():
    assert rules.LotQuery("hw\u20102611a").key == "HW-2611A"
    assert rules.LotQuery(" ＨＷ２６１１\u200b").key == "HW2611"


def test_a_prefix_bound_is_just_past_every_lot_that_starts_with_it():
    bound = rules.prefix_upper_bound("SJ-40")

    assert bound == "SJ-41"
    assert all("SJ-40" <= lot < bound for lot in ["SJ-40", "SJ-40812", "SJ-40977", "SJ-40\uffff"])
    assert not any("SJ-40" <= lot < bound for lot in ["SJ-41", "SJ-4", "SJ-39"])


def test_a_prefix_of_maximal_characters_has_no_bound_rather_a_wrong_one():
    assert rules.prefix_upper_bound("\U0010ffff") is None
    assert rules.prefix_upper_bound("a\U0010ffff") == "b"
