"""The rounding rule, yuan text and Chinese capitals on receipts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laoyou.billing.money import capitals, div_round_half_up, line_amount_fen, parse_yuan, yuan


def test_area_line_rounds_half_up_to_the_fen():
    # 72.35 m² at 0.65 yuan per m² per month is 4702.75 fen: rounded half up once per line to 4703
    assert line_amount_fen(kind="per_m2", unit_price_fen=65, area_centi_m2=7235, months=1) == 4703
    # 72.30 m² at 0.65 is 4699.5 fen: a half goes up
    assert line_amount_fen(kind="per_m2", unit_price_fen=65, area_centi_m2=7230, months=1) == 4700
    # 72.10 m² at 0.65 is 4686.5 -> 4687; 72.01 m² is 4680.65 -> 4681; 72.00 is exact
    assert line_amount_fen(kind="per_m2", unit_price_fen=65, area_centi_m2=7210, months=1) == 4687
    assert line_amount_fen(kind="per_m2", unit_price_fen=65, area_centi_m2=7201, months=1) == 4681
    assert line_amount_fen(kind="per_m2", unit_price_fen=65, area_centi_m2=7200, months=1) == 4680
    # A quarter is rounded once over three months, not three times
    assert (
        line_amount_fen(kind="per_m2", unit_price_fen=65, area_centi_m2=7235, months=3) == 14108
    )  # 14108.25


def test_household_items_are_exact():
    assert line_amount_fen(kind="per_household", unit_price_fen=500, area_centi_m2=7235, months=3) == 1500


@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(min_value=1, max_value=10**6))
def test_round_half_up_matches_the_definition(numerator, denominator):
    result = div_round_half_up(numerator, denominator)
    # |result - n/d| <= 1/2, and a tie goes away from zero
    doubled = 2 * abs(numerator) - 2 * abs(result) * denominator
    assert -denominator <= doubled < denominator


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (12345, "壹佰贰拾叁元肆角伍分"),
        (0, "零元整"),
        (100, "壹元整"),
        (1005, "壹拾元零伍分"),
        (110, "壹元壹角整"),
        (101, "壹元零壹分"),
        (100000, "壹仟元整"),
        (100001, "壹仟元零壹分"),
        (10000005, "壹拾万元零伍分"),
        (100500000, "壹佰万伍仟元整"),  # a zero in the 万 place may be left unwritten
        (1000000000, "壹仟万元整"),
        (10000000000, "壹亿元整"),
        (10010000000, "壹亿零壹拾万元整"),
        (4703, "肆拾柒元零叁分"),
    ],
)
def test_capitals(fen, text):
    assert capitals(fen) == text


@given(st.integers(min_value=0, max_value=10**13))
def test_yuan_round_trips(fen):
    assert parse_yuan(yuan(fen)) == fen


@pytest.mark.parametrize("bad", ["", "1.234", "abc", "1.2.3", "."])
def test_parse_yuan_refuses(bad):
    with pytest.raises(ValueError):
        parse_yuan(bad)
