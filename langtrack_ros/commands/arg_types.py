"""argparse types for numbers that must be in range: a bad value is argparse's one error line
(exit status 2) naming the option, never a run that does something silently wrong (``--speed
nan`` dropped 19 of 20 frames, ``--duration -1`` ran forever, ``--domain-id 300`` ended in a
DDS traceback)."""
from __future__ import annotations

import argparse
import math

MAX_DOMAIN_ID = 232  # DDS port mapping (7400 + 250 * id + offsets) must stay below 65536


def _number(text: str, kind=float):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0: no limit), got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0: no limit), got {text!r}")
    return value


def domain_id(text: str) -> int:
    value = _number(text, int)
    if not 0 <= value <= MAX_DOMAIN_ID:
        raise argparse.ArgumentTypeError(f"a DDS domain id is 0..{MAX_DOMAIN_ID} (ROS 2: 0..101 is safe), "
                                         f"got {text!r}")
    return value


def finite_float(text: str) -> float:
    return _number(text)
