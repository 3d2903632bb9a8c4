"""Money is integer fen (分). Yuan strings exist only at the edges (parse/format)."""

from __future__ import annotations

import re
from typing import NewType

from yikatong.core.errors import InvalidInput

Fen = NewType("Fen", int)

_YUAN = re.compile(r"^(?P<sign>-)?(?P<whole>\d{1,15})(?:\.(?P<frac>\d{1,2}))?$")


def parse_yuan(text: str, *, field: str = "amount") -> Fen:
    """Parse a yuan string such as ``"462"``, ``"3.5"`` or ``"-0.01"`` into fen.

    More than two decimals, separators, exponents and floats are refused rather than rounded.
    """
    cleaned = text.strip().removeprefix("¥").removesuffix("元").strip()
    match = _YUAN.match(cleaned)
    if match is None:
        raise InvalidInput(
            f"{text!r} is not a yuan amount; write digits with at most two decimals, e.g. 462.00",
            field=field,
        )
    whole = int(match["whole"])
    frac = int((match["frac"] or "0").ljust(2, "0"))
    fen = whole * 100 + frac
    return Fen(-fen if match["sign"] else fen)


def format_yuan(amount: int) -> str:
    """Format fen as a yuan string with two decimals: ``46200 → "462.00"``."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 100)
    return f"{sign}{whole}.{frac:02d}"


def yuan(whole: int, fen: int = 0) -> Fen:
    """Build an amount from whole yuan (and fen), for policy files and tests: ``yuan(462)``."""
    return Fen(whole * 100 + fen)
