from __future__ import annotations

import pytest

from hubserve.durations import parse_duration_s


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("30s", 30), ("15m", 900), ("24H", 86400), (" 7d ", 604800), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "fortnightly", "5w", "0", "-3m", "inf", "nan", "1e400"])
def test_bad_durations_say_what_was_wrong(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_s(text)
