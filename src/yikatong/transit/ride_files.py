"""An operator's ride file (交易文件): the offline rides of many of its validators in one CSV,
as a bus company's data centre gathers them at the depots each night and sends them on.

The format (UTF-8, comma-separated, a header line first, columns in any order)::

    terminal_no,terminal_seq,card_no,tapped_at,line,entry,exit
    BUS-0001,1001,A12345678,2025-03-10T08:01:00+08:00,,,
    GATE-0003,88,A12345678,2025-03-10T08:40:12+08:00,3,五四广场,

- ``terminal_no``: a validator or gate registered to the operator (``ykt terminal list``);
- ``terminal_seq``: the terminal's own sequence number of the tap (1 … 2⁶²−1); a number
  already recorded for the terminal is a duplicate and charged no second time;
- ``card_no``: the card's 9-character number; ``tapped_at``: ISO 8601 with its offset;
- ``line`` (optional, defaults to the terminal's line), ``entry`` and ``exit`` (metro
  stations, optional): as in a terminal's own upload.

A file is checked whole before anything is recorded: every bad line is named with its number,
and nothing of the file is taken. Each terminal's rides are then recorded as that terminal's
upload; a file of up to ``acquiring.MAX_FILE`` rides is one transaction, and all its rides are
priced together in the order they happened (a ride on one bus sees the rider's earlier ride on
another: transfer discounts, caps).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yikatong.acquiring import service as acquiring
from yikatong.core import clock
from yikatong.core.errors import InvalidInput, NotFound
from yikatong.transit import service

__all__ = [
    "COLUMNS",
    "MAX_BYTES",
    "MAX_REQUEST_BYTES",
    "RideFile",
    "check_terminals",
    "parse_ride_file",
    "parts",
    "read_one_request",
    "upload_ride_file",
]

COLUMNS = ("terminal_no", "terminal_seq", "card_no", "tapped_at", "line", "entry", "exit")
_REQUIRED = ("terminal_no", "terminal_seq", "card_no", "tapped_at")
MAX_BYTES = 200 * 1024 * 1024
MAX_REQUEST_BYTES = 50 * 1024 * 1024
_MAX_PROBLEMS = 100  # a file that bad is named by its first hundred bad lines
_MAX_SEQ = 2**62 - 1
_LENGTHS = {"terminal_no": 32, "line": 32, "entry": 64, "exit": 64}


@dataclass(slots=True)
class _Terminal:
    first_line: int
    taps: list[acquiring.OfflineTap] = field(default_factory=list)


@dataclass(slots=True)
class RideFile:
    """A checked ride file: each terminal's taps in file order, terminals in order of first
    appearance, with the line each terminal first appears on (to name it in errors)."""

    terminals: dict[str, _Terminal]
    rides: int


def parse_ride_file(text: str) -> RideFile:
    """Read and check a ride file, tap times against the clock now (an upload's window);
    raises ``InvalidInput`` naming every bad line (up to 100)."""
    if len(text) > MAX_BYTES:
        raise InvalidInput(f"a ride file is at most {MAX_BYTES // 2**20} MiB", field="file")
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        return _read(reader)
    except csv.Error as error:
        raise InvalidInput(
            f"line {reader.line_num} is not CSV: {error}",
            errors=[{"line": reader.line_num, "field": "row", "reason": str(error)}],
        ) from None


def _read(reader: Any) -> RideFile:
    header = next(reader, None)
    if header is None:
        raise InvalidInput("the ride file is empty; it starts with a header line", field="file")
    names = [name.strip() for name in header]
    unknown = [name for name in names if name not in COLUMNS]
    missing = [name for name in _REQUIRED if name not in names]
    if unknown or missing or len(set(names)) != len(names):
        raise InvalidInput(
            f"the header names the columns {', '.join(COLUMNS)} (line, entry and exit may be "
            f"left out), each once; unknown: {', '.join(unknown) or 'none'}, missing: "
            f"{', '.join(missing) or 'none'}",
            field="header",
            errors=[{"line": 1, "field": "header", "reason": "wrong columns"}],
        )
    where = {name: index for index, name in enumerate(names)}
    required = operator.itemgetter(*(where[name] for name in _REQUIRED))
    optional = [(name, where[name]) for name in ("line", "entry", "exit") if name in where]
    problems: list[dict[str, object]] = []
    terminals: dict[str, _Terminal] = {}
    rides = 0
    window = acquiring.TapWindow.at(clock.now())

    def bad(number: int, column: str, reason: str) -> None:
        if len(problems) < _MAX_PROBLEMS:
            problems.append({"line": number, "field": column, "reason": reason})

    for number, record in enumerate(reader, start=2):
        if len(record) != len(names):
            if not record or all(not value.strip() for value in record):
                continue  # a blank line, such as the one many tools end a file with
            bad(number, "row", f"{len(record)} values for {len(names)} columns")
            continue
        terminal_no, seq, card_no, tapped_at = required(record)
        terminal_no, seq = terminal_no.strip(), seq.strip()
        card_no, tapped_at = card_no.strip(), tapped_at.strip()
        details = {name: value for name, i in optional if (value := record[i].strip())}
        at = _checked(terminal_no, seq, card_no, tapped_at, details, window)
        if isinstance(at, tuple):
            bad(number, *at)
            continue
        tap = acquiring.OfflineTap(int(seq), card_no.upper(), at, details)
        terminal_no = terminal_no.upper()
        group = terminals.get(terminal_no)
        if group is None:
            group = terminals[terminal_no] = _Terminal(number)
        group.taps.append(tap)
        rides += 1
    if not rides and not problems:
        bad(2, "row", "the file holds no ride")
    for terminal_no, found in terminals.items():
        if len(found.taps) > acquiring.MAX_BATCH:
            bad(
                found.first_line,
                "terminal_no",
                f"terminal {terminal_no} has {len(found.taps)} rides; a terminal's upload "
                f"holds at most {acquiring.MAX_BATCH}",
            )
    if problems:
        raise InvalidInput(
            f"the ride file has bad lines (first at line {problems[0]['line']}); "
            "nothing of it was recorded",
            errors=problems,
        )
    return RideFile(terminals, rides)


def _checked(
    terminal_no: str,
    seq: str,
    card_no: str,
    tapped_at: str,
    details: dict[str, str],
    window: acquiring.TapWindow,
) -> dt.datetime | tuple[str, str]:
    """The tap time of one line's values, or what is wrong with them as (column, reason)."""
    if not (terminal_no and seq and card_no and tapped_at):
        for name, value in zip(_REQUIRED, (terminal_no, seq, card_no, tapped_at), strict=True):
            if not value:
                return name, f"{name} is required"
    if len(terminal_no) > _LENGTHS["terminal_no"]:
        return "terminal_no", f"terminal_no is at most {_LENGTHS['terminal_no']} characters"
    for name, value in details.items():
        if len(value) > _LENGTHS[name]:
            return name, f"{name} is at most {_LENGTHS[name]} characters"
    if not seq.isascii() or not seq.isdigit() or not 1 <= int(seq) <= _MAX_SEQ:
        return "terminal_seq", "the terminal sequence is a positive integer"
    if len(card_no) != 9:
        return "card_no", "a card number has 9 characters"
    try:
        at = dt.datetime.fromisoformat(tapped_at)
    except ValueError:
        return "tapped_at", "not an ISO 8601 time, e.g. 2025-03-10T08:01:00+08:00"
    if at.tzinfo is None:
        return "tapped_at", "give the time with its offset, e.g. +08:00"
    stamp = window.stamp(at)
    return ("tapped_at", stamp) if isinstance(stamp, str) else at


def read_one_request(raw: bytes) -> RideFile:
    """A ride file sent in one request (the API, the console): UTF-8, at most 50 MiB and
    ``acquiring.MAX_FILE`` rides, so that it is taken in as one transaction."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise InvalidInput(
            f"a ride file sent in one request is at most {MAX_REQUEST_BYTES // 2**20} MiB; "
            "use `ykt rides upload`",
            field="file",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the ride file must be UTF-8 text", field="file") from None
    parsed = parse_ride_file(text)
    if parsed.rides > acquiring.MAX_FILE:
        raise InvalidInput(
            f"the file holds {parsed.rides} rides; one request takes at most "
            f"{acquiring.MAX_FILE}: split it by terminals, or use `ykt rides upload`, which "
            "takes it in parts",
            field="file",
        )
    return parsed


def parts(ride_file: RideFile, most: int = acquiring.MAX_FILE) -> Iterator[list[str]]:
    """The file's terminals in groups of at most ``most`` rides (whole terminals), one
    transaction each; a file within the limit is one group."""
    group: list[str] = []
    size = 0
    for terminal_no, found in ride_file.terminals.items():
        if group and size + len(found.taps) > most:
            yield group
            group, size = [], 0
        group.append(terminal_no)
        size += len(found.taps)
    if group:
        yield group


def check_terminals(session: Session, merchant_code: str, ride_file: RideFile) -> None:
    """Refuse the file, naming the line, unless every terminal in it is the operator's (to
    check a file taken in parts before its first part is recorded)."""
    _uploads(session, _operator(session, merchant_code), ride_file, list(ride_file.terminals))


def upload_ride_file(
    session: Session,
    merchant_code: str,
    ride_file: RideFile,
    terminal_nos: Sequence[str] | None = None,
    *,
    return_taps: bool = False,
) -> list[tuple[str, acquiring.UploadResult]]:
    """Record the file's rides (or those of ``terminal_nos``, a group of ``parts``) for the
    operator ``merchant_code``: each terminal's as its upload, all priced in time order.
    Answers (terminal, upload) in file order."""
    merchant = _operator(session, merchant_code)
    wanted = list(ride_file.terminals) if terminal_nos is None else list(terminal_nos)
    uploads = _uploads(session, merchant, ride_file, wanted)
    results = service.upload_operator_rides(session, merchant, uploads, return_taps=return_taps)
    return [(u.terminal.terminal_no, r) for u, r in zip(uploads, results, strict=True)]


def _operator(session: Session, merchant_code: str) -> acquiring.Merchant:
    merchant = acquiring.get_merchant(session, merchant_code)
    if merchant.kind not in acquiring.TRANSIT_KINDS:
        raise InvalidInput(
            f"{merchant.code} is a {merchant.kind} merchant; ride files come from bus and "
            "metro operators",
            field="merchant",
        )
    return merchant


def _uploads(
    session: Session, merchant: acquiring.Merchant, ride_file: RideFile, wanted: list[str]
) -> list[acquiring.TerminalUpload]:
    registered = {
        t.terminal_no: t
        for t in session.scalars(
            select(acquiring.Terminal).where(acquiring.Terminal.terminal_no.in_(wanted))
        )
    }
    problems: list[dict[str, object]] = []
    uploads: list[acquiring.TerminalUpload] = []
    for terminal_no in wanted:
        found = ride_file.terminals.get(terminal_no)
        if found is None:
            raise NotFound(f"terminal {terminal_no} has no rides in the file")
        terminal = registered.get(terminal_no)
        if terminal is None or terminal.merchant_id != merchant.id:
            reason = (
                f"no terminal {terminal_no} is registered"
                if terminal is None
                else f"terminal {terminal_no} is not {merchant.code}'s"
            )
            problems.append({"line": found.first_line, "field": "terminal_no", "reason": reason})
            continue
        uploads.append(acquiring.TerminalUpload(terminal, found.taps))
    if problems:
        raise InvalidInput(
            f"the ride file names terminals that are not {merchant.code}'s (first at line "
            f"{problems[0]['line']}); nothing of it was recorded",
            errors=problems[:_MAX_PROBLEMS],
        )
    return uploads
