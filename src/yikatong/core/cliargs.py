"""Small helpers every command-line group shares: who acts, and dates typed by an operator."""

from __future__ import annotations

import datetime as dt
import getpass

from yikatong.core.errors import InvalidInput


def operator_name(actor: str | None = None) -> str:
    """The ``--actor`` given, else the operating-system user (kept in histories and audit)."""
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def parse_date(text: str, field: str) -> dt.date:
    """``YYYY-MM-DD`` typed by an operator, refused with the option's name when it is not."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date; write YYYY-MM-DD", field=field) from None


def parse_optional_date(text: str | None, field: str) -> dt.date | None:
    return None if text is None else parse_date(text, field)
