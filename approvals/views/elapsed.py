"""Django's timesince/timeuntil words for many datetimes against one "now" (a page's)."""

from __future__ import annotations

from datetime import datetime

from django.utils.html import avoid_wrapping
from django.utils.timesince import MONTHS_DAYS, TIME_CHUNKS, TIME_STRINGS, TIME_STRINGS_KEYS
from django.utils.timezone import is_aware
from django.utils.translation import get_language, gettext

# "2\xa0days" by (language, unit, number), and ", " by (language, None, 0): a few hundred
# strings at most (numbers stay below 60 except years).
_WORDS: dict[tuple[str | None, str | None, int], str] = {}


class Elapsed:
    """``timesince(d, now)`` and ``timeuntil(d, now)`` of ``django.utils.timesince``
    (depth 2) for one ``now``: the same calendar arithmetic, written out here so that
    the words ("2 days", the ", " between two units) are translated once per process and
    language instead of on every call. An inbox page asks 100 times; the translation
    lookups were most of the ~1.7 ms of CPU that cost. tests/pages/test_elapsed.py
    compares the two over thousands of spans."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.language = get_language()

    def since(self, d: datetime) -> str:
        """``timesince(d, now)``: how long ago ``d`` was ("0 minutes" if it is ahead)."""
        return self._between(d, self._now_as(d))

    def until(self, d: datetime) -> str:
        """``timeuntil(d, now)``: how long until ``d`` ("0 minutes" if it is past)."""
        return self._between(self._now_as(d), d)

    def _now_as(self, d: datetime) -> datetime:
        # Compared datetimes must be in the same time zone (timesince turns now into d's).
        if d.tzinfo is self.now.tzinfo:  # the usual case (both UTC): nothing to turn
            return self.now
        return self.now.astimezone(d.tzinfo) if is_aware(self.now) and is_aware(d) else self.now

    def _between(self, start: datetime, end: datetime) -> str:
        """timesince's body with ``d=start, now=end``."""
        delta = end - start
        if delta.days * 24 * 60 * 60 + delta.seconds <= 0:  # microseconds ignored
            return self._word("minute", 0)
        if delta.days < 28:
            # No whole month fits in less than 28 days (the calendar arithmetic below
            # would find none): weeks, days, hours and minutes, counted in whole minutes
            # (as the chunks below count the seconds: every chunk is whole minutes).
            weeks, rest = divmod((delta.days * 24 * 60 * 60 + delta.seconds) // 60, 7 * 24 * 60)
            days, rest = divmod(rest, 24 * 60)
            return self._first_two([0, 0, weeks, days, *divmod(rest, 60)])
        total_months = (end.year - start.year) * 12 + (end.month - start.month)
        if start.day > end.day or (start.day == end.day and start.time() > end.time()):
            total_months -= 1
        years, months = divmod(total_months, 12)
        # A pivot shifted from start by the years and months; the rest is counted from it.
        pivot = start
        if years or months:
            pivot_year, pivot_month = start.year + years, start.month + months
            if pivot_month > 12:
                pivot_month -= 12
                pivot_year += 1
            pivot = datetime(
                pivot_year, pivot_month, min(MONTHS_DAYS[pivot_month - 1], start.day),
                start.hour, start.minute, start.second, tzinfo=start.tzinfo,
            )
        return self._words([years, months], (end - pivot).total_seconds())

    def _words(self, partials: list[int], remaining: float) -> str:
        """The words of the first two units from the years and months counted and the
        seconds that remain."""
        for chunk in TIME_CHUNKS:
            count = int(remaining // chunk)
            partials.append(count)
            remaining -= chunk * count
        return self._first_two(partials)

    def _first_two(self, partials: list[int]) -> str:
        """The words of the first unit that is not zero, and of the next one if it is
        not zero either (years, months, weeks, days, hours, minutes)."""
        for first in range(len(partials)):
            if partials[first]:
                break
        else:
            return self._word("minute", 0)
        value = partials[first]
        following = partials[first + 1] if first + 1 < len(partials) else 0
        if not following:
            return self._word(TIME_STRINGS_KEYS[first], value)
        return self._word(TIME_STRINGS_KEYS[first], value) + self._comma() + self._word(
            TIME_STRINGS_KEYS[first + 1], following
        )

    def _word(self, unit: str, num: int) -> str:
        key = (self.language, unit, num)
        word = _WORDS.get(key)
        if word is None:
            word = _WORDS[key] = avoid_wrapping(TIME_STRINGS[unit] % {"num": num})
        return word

    def _comma(self) -> str:
        key = (self.language, None, 0)
        comma = _WORDS.get(key)
        if comma is None:
            comma = _WORDS[key] = gettext(", ")
        return comma
