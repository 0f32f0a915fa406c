"""Properties of the art. 278 count: area and headcount, the thresholds exactly at their boundary, proxies, paper
and online ballots mixed, and households that withdrew (archived) before the count.

The oracle is written independently with fractions.Fraction: participation >= 2/3 of the area and of the owners;
ordinary matters > 1/2, special (items 6–8) >= 3/4 of the participating area and owners.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from laoyou.governance.votes.counting import Cast, Outcome, Owner, count
from laoyou.governance.votes.models import Choice

choices = st.sampled_from(list(Choice))


@st.composite
def electorates(draw):  # noqa: ANN001, ANN201
    """Owners with areas and, for each, no ballot or one (online or paper, some by proxy: the count sees only the
    household and the choice), plus ballots of withdrawn households that no longer count, in a shuffled order."""
    rows = draw(
        st.lists(
            st.tuples(st.integers(min_value=0, max_value=30_000), st.none() | choices),
            min_size=1,
            max_size=25,
        )
    )
    owners = [Owner(household_id=i + 1, area=area) for i, (area, _choice) in enumerate(rows)]
    ballots = [Cast(i + 1, choice) for i, (_area, choice) in enumerate(rows) if choice is not None]
    ballots += [Cast(1000 + i, choice) for i, choice in enumerate(draw(st.lists(choices, max_size=3)))]
    return owners, draw(st.randoms(use_true_random=False)).sample(ballots, len(ballots))


def oracle(owners: list[Owner], ballots: list[Cast], special: bool) -> Outcome:
    area = {o.household_id: o.area for o in owners}
    counted = {b.household_id: b.choice for b in ballots if b.household_id in area}
    total_area, total_owners = sum(area.values()), len(area)
    voted_area = sum(area[h] for h in counted)
    voted_owners = len(counted)
    yes_area = sum(area[h] for h, c in counted.items() if c is Choice.yes)
    yes_owners = sum(1 for c in counted.values() if c is Choice.yes)
    two_thirds = Fraction(2, 3)
    if total_area:
        area_quorum = Fraction(voted_area, total_area) >= two_thirds
    else:
        area_quorum = True  # no area to hold: only the headcount can decide participation
    if not (area_quorum and Fraction(voted_owners, total_owners) >= two_thirds):
        return Outcome.no_quorum
    need = Fraction(3, 4) if special else Fraction(1, 2)

    def enough(part: int, whole: int) -> bool:
        if whole == 0:
            return special  # no participating area: 3/4 of nothing is met, more than half of it is not
        share = Fraction(part, whole)
        return share >= need if special else share > need

    passed = enough(yes_area, voted_area) and enough(yes_owners, voted_owners)
    return Outcome.passed if passed else Outcome.rejected


@given(electorates(), st.booleans())
def test_the_count_matches_exact_fractions(drawn, special):  # noqa: ANN001
    owners, ballots = drawn
    tally = count(owners, ballots, special=special)
    assert tally.outcome == oracle(owners, ballots, special)
    assert tally.voted_owners == len({b.household_id for b in ballots if b.household_id <= len(owners)})
    assert tally.yes_area + tally.no_area <= tally.voted_area <= tally.total_area


@given(electorates(), st.booleans())
def test_the_order_of_ballots_and_the_channel_do_not_matter(drawn, special):  # noqa: ANN001
    owners, ballots = drawn
    assert count(owners, ballots, special=special) == count(owners, list(reversed(ballots)), special=special)


@given(st.integers(min_value=1, max_value=40), st.sampled_from([(2, 3), (1, 2), (3, 4)]), st.integers(1, 500))
def test_thresholds_exactly_at_the_boundary(k, ratio, area):  # noqa: ANN001
    """n owners of equal area; exactly the threshold's share of them does something."""
    num, den = ratio
    n = den * k
    owners = [Owner(i, area) for i in range(n)]
    at = n * num // den
    if ratio == (2, 3):
        # Exactly two thirds take part (all for): quorum met; one fewer: not.
        yes = [Cast(i, Choice.yes) for i in range(at)]
        assert count(owners, yes, special=False).outcome is Outcome.passed
        assert count(owners, yes[:-1], special=False).outcome is Outcome.no_quorum
        return
    # Everyone takes part; exactly `at` say yes, the rest no.
    ballots = [Cast(i, Choice.yes if i < at else Choice.no) for i in range(n)]
    plus_one = [Cast(i, Choice.yes if i <= at else Choice.no) for i in range(n)]
    if ratio == (1, 2):
        assert count(owners, ballots, special=False).outcome is Outcome.rejected  # half is not more than half
        assert count(owners, plus_one, special=False).outcome is Outcome.passed
    else:
        assert count(owners, ballots, special=True).outcome is Outcome.passed  # three quarters is enough
        fewer = [Cast(i, Choice.yes if i < at - 1 else Choice.no) for i in range(n)]
        assert count(owners, fewer, special=True).outcome is Outcome.rejected


def test_area_and_headcount_must_both_pass():
    # One big flat says yes, three small ones say no: the area passes, the headcount does not.
    owners = [Owner(1, 30_000), Owner(2, 4_000), Owner(3, 4_000), Owner(4, 4_000)]
    ballots = [Cast(1, Choice.yes), Cast(2, Choice.no), Cast(3, Choice.no), Cast(4, Choice.no)]
    tally = count(owners, ballots, special=False)
    assert 2 * tally.yes_area > tally.voted_area
    assert tally.outcome is Outcome.rejected
    # The three small ones alone reach two thirds of the owners but not of the area: no quorum.
    assert count(owners, ballots[1:], special=False).outcome is Outcome.no_quorum


def test_abstentions_take_part_but_do_not_approve():
    owners = [Owner(i, 100) for i in range(4)]
    ballots = [Cast(0, Choice.yes), Cast(1, Choice.yes), Cast(2, Choice.abstain)]
    tally = count(owners, ballots, special=False)
    assert tally.quorum and tally.voted_owners == 3
    assert tally.outcome is Outcome.passed  # 2 of 3 participating
    assert count(owners, [*ballots[:1], Cast(1, Choice.abstain), ballots[2]], special=False).outcome is (
        Outcome.rejected
    )


def test_nobody_to_vote_is_no_quorum():
    assert count([], [Cast(1, Choice.yes)], special=False).outcome is Outcome.no_quorum
