"""Mobile numbers: normalised to E.164, refused when not a Chinese mobile, masked for those who need less."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laoyou.core.errors import ErrorCode, LaoyouError
from laoyou.core.phone import mask_phone, national, normalise_phone


@pytest.mark.parametrize(
    "written",
    [
        "13812345678",
        "138 1234 5678",
        "+86 138-1234-5678",
        "+8613812345678",
        "008613812345678",
        " 138-1234-5678 ",
        "(138) 1234 5678",
    ],
)
def test_ways_of_writing_a_number_give_one_e164(written):
    assert normalise_phone(written) == "+8613812345678"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "12345",
        "1381234567",
        "138123456789",
        "02112345678",
        "+86 21 6543 2100",
        "abcdefghijk",
        "1" * 40,
        "10086",
        "+86",
        None,
    ],
)
def test_what_is_not_a_chinese_mobile_is_refused(bad):
    with pytest.raises(LaoyouError) as refused:
        normalise_phone(bad)
    assert refused.value.code is ErrorCode.INVALID_PHONE
    assert refused.value.field == "phone"


def test_the_field_named_in_the_error_can_be_chosen():
    with pytest.raises(LaoyouError) as refused:
        normalise_phone("1", field="reporterPhone")
    assert refused.value.field == "reporterPhone"


@pytest.mark.parametrize(
    "e164, masked",
    [
        ("+8613812345678", "138****5678"),
        ("+8613800000001", "138****0001"),
        ("+8619912345678", "199****5678"),
        ("+12025550100", "120****0100"),
        ("+861234", "****"),
        ("", "****"),
    ],
)
def test_masking_keeps_the_first_three_and_last_four_digits(e164, masked):
    assert mask_phone(e164) == masked


def test_national_drops_the_country_code():
    assert national("+8613812345678") == "13812345678"
    assert national("+12025550100") == "+12025550100"


@settings(deadline=None)  # a loaded machine (the whole suite in parallel) is slow, not wrong
@given(
    st.integers(min_value=0, max_value=99_999_999),
    st.sampled_from(["138", "139", "150", "186", "199", "177"]),
)
def test_masking_never_shows_the_middle_digits(rest, prefix):
    number = f"+86{prefix}{rest:08d}"
    masked = mask_phone(number)
    assert masked == f"{prefix}****{number[-4:]}"


@settings(deadline=None)  # a loaded machine (the whole suite in parallel) is slow, not wrong
@given(
    st.integers(min_value=0, max_value=99_999_999),
    st.sampled_from(["138", "139", "150", "186", "199"]),
    st.sampled_from(["{n}", "{a} {b} {c}", "+86 {a}-{b}-{c}", "+86{n}", "{a}-{b}-{c}"]),
)
def test_normalising_is_stable_under_spelling(rest, prefix, spelling):
    number = f"{prefix}{rest:08d}"
    written = spelling.format(n=number, a=number[:3], b=number[3:7], c=number[7:])
    assert normalise_phone(written) == f"+86{number}"
    assert normalise_phone(normalise_phone(written)) == f"+86{number}"
