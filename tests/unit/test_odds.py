"""Price arithmetic: fractional odds from the standard UK ladder."""

from __future__ import annotations

import pytest

from models.odds import fractional


@pytest.mark.parametrize(("odds", "expected"), [
    (1.33, "1/3"), (1.36, "4/11"), (1.44, "4/9"), (1.83, "5/6"), (1.91, "10/11"),
    (2.0, "1/1"), (2.38, "11/8"), (2.62, "13/8"), (2.5, "6/4"), (4.33, "10/3"),
    (21.0, "20/1"), (34.0, "33/1"), (1.01, "1/100"), (7.5, "13/2"), (27.0, "26/1"),
    (1001.0, "1000/1"), (1.95, "20/21"), (2.05, "21/20"), (3.16, "85/40"), (3.6, "13/5"),
])
def test_prices_near_the_ladder_take_the_ladder_price(odds: float, expected: str) -> None:
    assert fractional(odds) == expected


@pytest.mark.parametrize(("odds", "expected"), [
    (3.9, "29/10"),  # 14/5 and 3/1 are 3.4% away
    (10.5, "19/2"),  # 9/1 and 10/1 are 5% away
    (1.005, "1/200"),  # below the ladder: never 0/1
])
def test_prices_far_from_the_ladder_take_the_simplest_fraction(odds: float,
                                                               expected: str) -> None:
    assert fractional(odds) == expected


@pytest.mark.parametrize(("odds", "expected"), [
    (2.02, "1/1"),  # 0.02 from evens is 1.96% of the profit 1.02
    (1.9804, "1/1"),  # 0.0196 is 1.9992% of 0.9804
    (1.98, "44/45"),  # 0.02 is 2.04% of 0.98
    (5.08, "4/1"),  # 1.96% of 4.08
    (5.1, "41/10"),  # 2.44% of 4.1
])
def test_the_ladder_is_within_two_percent_of_the_profit(odds: float, expected: str) -> None:
    assert fractional(odds) == expected


def test_every_ladder_price_is_its_own_fraction() -> None:
    ladder = ["1/100", "1/66", "1/33", "2/13", "4/6", "8/11", "6/4", "15/8", "10/3", "17/2",
              "6/1", "11/1", "100/1"]
    for text in ladder:
        numerator, denominator = map(int, text.split("/"))
        assert fractional(1.0 + numerator / denominator) == text
