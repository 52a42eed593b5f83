"""Durations (``48h``) and shares of a duration (``75%``) as recipes write them."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

_DURATION = re.compile(r"([0-9]+)([smhdw])")
_SHARE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*%")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Far enough for any approval, small enough that timedelta never overflows.
_MAX_SECONDS = 10 * 365 * 86400


def parse_duration(value: Any) -> timedelta:
    """``30s``, ``15m``, ``48h``, ``3d``, ``2w``: a whole number above 0 and a unit.

    Raises ValueError with a message for the author."""
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"{value!r} is not a duration: write a whole number and a unit "
            "(s, m, h, d, w), such as 48h"
        )
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be above zero")
    if seconds > _MAX_SECONDS:
        raise ValueError(f"{value!r}: a duration may be at most 10 years")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact way to write ``delta`` (``172800s`` -> ``2d``)."""
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def parse_share(value: Any) -> float:
    """``75%`` -> 0.75. Above zero; may exceed 100% (act after the due time)."""
    match = _SHARE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a share: write a percentage such as 75%")
    share = float(match.group(1)) / 100
    if not math.isfinite(share) or share <= 0:
        raise ValueError(f"{value!r}: a share must be above 0%")
    if share > 100:
        raise ValueError(f"{value!r}: a share may be at most 10000%")
    return share


def format_share(share: float) -> str:
    percent = round(share * 100, 6)
    return f"{percent:g}%"
