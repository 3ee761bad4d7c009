"""Pure rules of needle packs: lots a recall always finds, and what a hand scanner types.

The GS1 strings are built from real check digits: GTIN 09501101020917 (GS1's own example)
adds up; 09501101020918 does not.
"""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safety.packs import rules
from safety.packs.rules import PackError

GTIN = "09501101020917"
BAD_GTIN = "09501101020918"
GS = "\x1d"

#: One lot printed as HW-2611A, as it reached us in the issue: small letters typed in another
#: form, full width (a tablet's IME), a Unicode hyphen (pasted from a supplier's e-mail), a
#: zero-width space (pasted from a PDF), and a no-break space and minus sign around it.
SPELLINGS = [
    "hw-2611a",
    "ＨＷ－２６１１Ａ",
    "HW\u20102611A",
    "HW-26\u200b11A",
    "\u00a0HW\u22122611A ",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_five_spellings_of_one_printed_lot_share_one_key(spelling):
    assert rules.normalise_lot(spelling) == rules.normalise_lot("HW-2611A") == "HW-2611A"


def test_bidi_controls_and_soft_hyphens_are_not_part_of_a_lot():
    assert rules.normalise_lot("\u202aSJ-\u00ad40812\u202c") == "SJ-40812"
    assert rules.normalise_lot("\ufeffSJ\u201340812") == "SJ-40812"


def test_a_lot_is_kept_as_entered_apart_from_surrounding_space():
    assert rules.check_lot("  hw-2611a ") == "hw-2611a"


@pytest.mark.parametrize("bad", ["HW\x002611", "HW\x072611", "HW\ue0002611", "HW\x7f2611"])
def test_a_lot_with_a_control_or_private_character_is_refused_with_a_reason(bad):
    with pytest.raises(PackError, match="not printed on a pack"):
        rules.check_lot(bad)


def test_a_lot_of_nothing_but_invisible_characters_is_no_lot():
    with pytest.raises(PackError, match="Enter the lot"):
        rules.check_lot("\u200b\u200d")


def test_a_lot_longer_than_a_column_is_refused():
    with pytest.raises(PackError, match="at most 64"):
        rules.check_lot("A" * 65)


@given(st.text(max_size=30))
def test_normalising_a_key_again_changes_nothing(text):
    key = rules.normalise_lot(text)

    assert rules.normalise_lot(key) == key


@given(st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", min_size=1, max_size=12))
def test_look_alike_spellings_of_any_lot_meet(lot):
    full_width = "".join(chr(ord(c) + 0xFEE0) if c != "-" else "\uff0d" for c in lot)
    hyphens = lot.replace("-", "\u2011")
    invisible = "\u200b".join(lot)

    assert {rules.normalise_lot(s) for s in (lot.lower(), full_width, hyphens, invisible)} == {
        rules.normalise_lot(lot)
    }


@given(st.text(max_size=30))
def test_a_key_holds_no_format_character_and_no_dash_but_the_ascii_one(text):
    key = rules.normalise_lot(text)

    assert not any(unicodedata.category(c) == "Cf" for c in key)
    assert not any(unicodedata.category(c) == "Pd" and c != "-" for c in key)


# --- scans -----------------------------------------------------------------------------------


def element(ai: str, value: str, *, end: str = GS) -> str:
    return ai + value + (end if ai in {"10", "21"} else "")


@pytest.mark.parametrize("prefix", ["", "]d2", "]C1", "]Q3", "]e0", "]J1"])
@pytest.mark.parametrize(
    "order",
    [
        ("01", "17", "10", "21"),
        ("01", "10", "17", "21"),
        ("10", "21", "01", "17"),
        ("17", "21", "10", "01"),
        ("21", "01", "17", "10"),
    ],
)
@pytest.mark.parametrize("separator", [GS, "{GS}", "|"])
def test_a_gs1_scan_fills_gtin_lot_expiry_and_serial_in_any_order(prefix, order, separator):
    values = {"01": GTIN, "17": "270531", "10": "HW-2611A", "21": "S0042"}
    body = "".join(element(ai, values[ai], end=separator) for ai in order)
    body = body.removesuffix(separator)  # the last field is ended by the end

    scan = rules.read_scan(prefix + body)

    assert scan == rules.Scan(
        lot="HW-2611A", is_gs1=True, gtin=GTIN, expiry=date(2027, 5, 31), serial="S0042"
    )


def test_an_expiry_on_day_zero_means_the_end_of_that_month():
    assert rules.read_scan(f"]d201{GTIN}1727020010A1").expiry == date(2027, 2, 28)


def test_a_gtin_whose_check_digit_is_wrong_is_refused():
    with pytest.raises(PackError, match="check digit"):
        rules.read_scan(f"]d201{BAD_GTIN}1727053110LOT")


def test_a_gs1_scan_without_a_lot_asks_for_the_barcode_that_has_one():
    with pytest.raises(PackError, match="no lot number"):
        rules.read_scan(f"]C101{GTIN}17270531")


@pytest.mark.parametrize(
    "scan",
    ["]d2zz", f"]d201{GTIN}17271332{GS}10A", f"01{GTIN}10AB{GS}{GS}17xx", "]J1zzz", "]Q3\x00"],
)
def test_a_malformed_gs1_scan_says_it_could_not_be_read(scan):
    with pytest.raises(PackError, match="could not be read") as caught:
        rules.read_scan(scan)

    assert GS not in str(caught.value)


def test_two_different_lots_in_one_scan_are_refused():
    with pytest.raises(PackError, match="two different values"):
        rules.read_scan(f"]d210A{GS}10B")


@pytest.mark.parametrize(
    "text",
    [
        "5901234123457",  # a plain EAN-13
        "+A99912345/$$52001510X3",  # a HIBC code
        "HW-2611A",  # typed
        "1012345",  # typed, though it starts like AI (10)
    ],
)
def test_a_scan_that_is_not_gs1_keeps_its_text_as_the_lot(text):
    assert rules.read_scan(f" {text} ") == rules.Scan(lot=text)


def test_a_typed_gtin_is_checked_and_kept_as_fourteen_digits():
    assert rules.check_gtin("9501101020917") == GTIN
    with pytest.raises(PackError, match="check digit"):
        rules.check_gtin(BAD_GTIN)
    with pytest.raises(PackError, match="8, 12, 13 or 14 digits"):
        rules.check_gtin("95011")


# --- the packs of a Time out form ------------------------------------------------------------

DAY = date(2026, 6, 1)


def read(**fields):
    form = {name.replace("__", "."): [value] for name, value in fields.items()}
    return rules.read_packs(form, session_date=DAY)


def test_a_scanned_first_pack_fills_the_checklists_lot_and_empty_expiry():
    got = read(
        timeout__needle_lot=f"]d201{GTIN}17270531|10HW-2611A|21S1", timeout__needle_expiry=""
    )

    assert got.errors == {}
    assert got.fields == {
        "timeout.needle_lot": ["HW-2611A"],
        "timeout.needle_expiry": ["2027-05-31"],
    }
    assert got.packs == [rules.Pack("HW-2611A", date(2027, 5, 31), GTIN, "S1")]
    assert got.answer() == [
        {"lot": "HW-2611A", "expiry": "2027-05-31", "gtin": GTIN, "serial": "S1"}
    ]


def test_an_expiry_typed_unlike_the_scanned_one_is_questioned():
    got = read(timeout__needle_lot=f"01{GTIN}1727053110HW", timeout__needle_expiry="2027-06-30")

    assert "is not the one in the scan (2027-05-31)" in got.errors["timeout.needle_expiry"]


def test_a_typed_first_pack_alone_needs_no_list_of_packs():
    got = read(timeout__needle_lot="hw-2611a", timeout__needle_expiry="2027-01-01")

    assert got.packs == [rules.Pack("hw-2611a", date(2027, 1, 1))]
    assert got.answer() is None


def test_further_packs_are_read_and_each_expiry_is_checked_against_the_session_date():
    got = read(
        timeout__needle_lot="A1",
        timeout__needle_expiry="2027-01-01",
        **{"timeout.pack2.lot": "B2", "timeout.pack2.expiry": "2026-05-31"},
        **{"timeout.pack3.lot": f"]d201{GTIN}10C3{GS}17260601"},
        **{"timeout.pack4.lot": "", "timeout.pack4.expiry": ""},
    )

    assert got.errors == {"timeout.pack2.expiry": rules.EXPIRED_PACK}
    assert [p.lot for p in got.packs] == ["A1", "C3"]
    assert got.packs[1].expiry == DAY  # in date on the day it expires


def test_a_further_pack_needs_its_lot_and_its_expiry():
    got = read(
        timeout__needle_lot="A1",
        timeout__needle_expiry="2027-01-01",
        **{"timeout.pack2.expiry": "2027-01-01"},
        **{"timeout.pack3.lot": "C3"},
        **{
            "timeout.pack4.lot": "D4",
            "timeout.pack4.gtin": BAD_GTIN,
            "timeout.pack4.expiry": "2027-01-01",
        },
    )

    assert got.errors["timeout.pack2.lot"] == rules.LOT_REQUIRED
    assert got.errors["timeout.pack3.expiry"] == rules.EXPIRY_REQUIRED
    assert "check digit" in got.errors["timeout.pack4.gtin"]


def test_packs_of_an_older_record_are_its_lot_and_expiry():
    assert rules.packs_of({"timeout.needle_lot": "A1", "timeout.needle_expiry": "2027-01-01"}) == [
        {"lot": "A1", "expiry": "2027-01-01"}
    ]
    assert rules.packs_of({rules.PACKS_KEY: [{"lot": "A"}, {"lot": "B"}]}) == [
        {"lot": "A"},
        {"lot": "B"},
    ]
