"""An operator's ride file (交易文件): many validators' offline rides in one CSV, taken in over
the API and the CLI. All its rides are priced together in time order, so a transfer from one
bus to another is seen whatever order the file lists them in; bad files are refused whole."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import AuthHeaders, Ykt
from tests.integration.acquiring._kit import Kit, Rider
from yikatong.acquiring import service as acquiring
from yikatong.acquiring.models import Tap, UploadBatch
from yikatong.api.auth import issue_token
from yikatong.core import clock
from yikatong.transit import fares, ride_files
from yikatong.transit import service as transit
from yikatong.web.session import COOKIE

_LOCAL = dt.timezone(dt.timedelta(hours=8))
LINES = ("1", "26", "321")
FILES = "/api/v1/transit/operators/qd-bus/ride-files"
HEADER = "terminal_no,terminal_seq,card_no,tapped_at,line,entry,exit\n"


def _operator(kit: Kit) -> list[Rider]:
    kit.merchant("qd-bus", "bus", "青岛公交")
    kit.merchant("qd-metro", "metro", "青岛地铁")
    for line in LINES:
        kit.device(f"BUS-{line}", "qd-bus", line=line)
    kit.device("GATE-0001", "qd-metro")
    riders = [kit.rider() for _ in range(4)]
    for rider in riders:
        kit.fund(rider, transport=50_000)
    return riders


def _csv(rows: list[tuple[str, int, str, dt.datetime]]) -> str:
    return HEADER + "".join(f"{t},{seq},{card},{at.isoformat()},,,\n" for t, seq, card, at in rows)


def _counts(kit: Kit) -> tuple[int, int]:
    with kit.node.transaction() as session:
        taps = session.scalar(select(func.count()).select_from(Tap))
        uploads = session.scalar(select(func.count()).select_from(UploadBatch))
    return int(taps or 0), int(uploads or 0)


def test_a_file_of_three_buses_is_priced_as_one_day_of_rides_and_a_resent_file_charges_nothing(
    kit: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    riders = _operator(kit)
    rng = random.Random(5)
    now = clock.now()  # 2025-03-10 10:00 Beijing time
    opening = dt.datetime.combine(
        (now - dt.timedelta(days=1)).astimezone(_LOCAL).date(), dt.time(6), tzinfo=_LOCAL
    )
    # Rider 0 changes from line 26 to line 1 within the transfer window: the file lists line 1
    # first, as a data centre lists its validators, not the rides, in order.
    rows = [("BUS-26", 1, riders[0].card_no, opening + dt.timedelta(minutes=10))]
    rows.append(("BUS-1", 1, riders[0].card_no, opening + dt.timedelta(minutes=40)))
    seqs = {"BUS-1": 1, "BUS-26": 1, "BUS-321": 0}
    for _ in range(60):  # enough rides a day that the daily cap bites
        terminal = f"BUS-{rng.choice(LINES)}"
        seqs[terminal] += 1
        at = opening + dt.timedelta(minutes=rng.randint(0, 15 * 60))
        rows.append((terminal, seqs[terminal], rng.choice(riders).card_no, at))
    rows.sort(key=lambda row: (row[0], row[1]))  # by terminal, as the file comes
    before = {r.card_no: kit.transport(r) for r in riders}

    sent = client.post(
        FILES, content=_csv(rows), headers={**auth("admin"), "Content-Type": "text/csv"}
    )

    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["rides"] == len(rows)
    assert [u["terminal_no"] for u in body["uploads"]] == ["BUS-1", "BUS-26", "BUS-321"]
    assert sum(u["received"] for u in body["uploads"]) == len(rows)
    assert all(u["duplicates"] == 0 and u["rejected"] == 0 for u in body["uploads"])
    # The reference: every ride priced with every earlier ride of the rider, in time order.
    expected: dict[tuple[str, int], int] = {}
    prior: dict[str, list[fares.PriorRide]] = {r.card_no: [] for r in riders}
    steps_seen: list[str] = []
    for terminal, seq, card_no, at in sorted(rows, key=lambda row: (row[3], row[0], row[1])):
        line = terminal.removeprefix("BUS-")
        policy = transit.policy_on(at.astimezone(_LOCAL).date())
        quote = fares.quote_fare(policy, fares.Ride("bus", line, at), "ordinary", prior[card_no])
        expected[terminal, seq] = quote.fare
        steps_seen.append(" ".join(quote.steps))
        prior[card_no].append(fares.PriorRide("bus", line, at, quote.fare))
    with kit.node.transaction() as session:
        charged = {
            (number, seq): (amount, upload_id)
            for number, seq, amount, upload_id in session.execute(
                select(
                    acquiring.Terminal.terminal_no, Tap.terminal_seq, Tap.amount, Tap.upload_id
                ).join(acquiring.Terminal, acquiring.Terminal.id == Tap.terminal_id)
            )
        }
    assert {key: amount for key, (amount, _) in charged.items()} == expected
    # The second ride of rider 0 (line 1, listed first) got the transfer from line 26.
    assert expected["BUS-1", 1] < expected["BUS-26", 1]
    assert any("capped" in steps for steps in steps_seen)
    # Each terminal's rides are its own upload.
    upload_of = {u["terminal_no"]: u["upload_id"] for u in body["uploads"]}
    assert all(upload_id == upload_of[number] for (number, _), (_, upload_id) in charged.items())
    spent = {r.card_no: before[r.card_no] - kit.transport(r) for r in riders}
    owed = {r.card_no: 0 for r in riders}
    for terminal, seq, card_no, _ in rows:
        owed[card_no] += expected[terminal, seq]
    assert spent == owed

    again = client.post(
        FILES, content=_csv(rows), headers={**auth("admin"), "Content-Type": "text/csv"}
    )

    assert again.status_code == 200, again.text
    assert sum(u["duplicates"] for u in again.json()["uploads"]) == len(rows)
    assert sum(u["approved"] for u in again.json()["uploads"]) == 0
    assert {r.card_no: before[r.card_no] - kit.transport(r) for r in riders} == owed


def test_a_bad_file_is_refused_whole_with_its_line_numbers(
    kit: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    riders = _operator(kit)
    at = clock.now() - dt.timedelta(hours=2)
    good = ("BUS-26", 1, riders[0].card_no, at)
    admin = {**auth("admin"), "Content-Type": "text/csv"}
    before = _counts(kit)

    def refused(text: str, *, who: dict[str, str] = admin) -> list[tuple[int, str]]:
        answer = client.post(FILES, content=text.encode(), headers=who)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        return [(e["line"], e["field"]) for e in answer.json()["errors"]]

    assert refused(
        _csv([good])
        + f"BUS-26,0,{riders[1].card_no},{at.isoformat()},,,\n"  # line 3
        + f"BUS-26,7,{riders[1].card_no},2025-03-10T08:00:00,,,\n"  # line 4: no offset
        + f"BUS-26,8,{riders[1].card_no},{(at + dt.timedelta(hours=3)).isoformat()},,,\n"
        + f"BUS-26,9,SHORT,{at.isoformat()},,,\n"  # line 6
        + "BUS-26,10\n"  # line 7
        + f"BUS-26,11,{riders[1].card_no},{(at - dt.timedelta(days=40)).isoformat()},,,\n"
    ) == [
        (3, "terminal_seq"),
        (4, "tapped_at"),
        (5, "tapped_at"),  # after the upload
        (6, "card_no"),
        (7, "row"),
        (8, "tapped_at"),  # older than offline taps are taken
    ]
    # Terminals are checked against the operator after the lines themselves.
    assert refused(
        _csv([good, ("GATE-0001", 1, riders[1].card_no, at), ("BUS-9", 1, riders[2].card_no, at)])
    ) == [(3, "terminal_no"), (4, "terminal_no")]
    assert refused("terminal,seq\nBUS-26,1\n") == [(1, "header")]
    assert refused(HEADER) == [(2, "row")]
    assert refused(HEADER + 'BUS-26,1,"A1"2345678,,,,\n') == [(2, "row")]  # not CSV
    not_utf8 = client.post(FILES, content=b"\xff\xfe", headers=admin)
    assert not_utf8.status_code == 422
    assert not_utf8.json()["errors"][0]["field"] == "file"
    metro = client.post(
        "/api/v1/transit/operators/qd-metro/ride-files", content=_csv([good]), headers=admin
    )
    assert metro.status_code == 422  # BUS-26 is not the metro's
    shop = client.post(
        "/api/v1/transit/operators/nobody/ride-files", content=_csv([good]), headers=admin
    )
    assert shop.status_code == 404
    clerk = client.post(FILES, content=_csv([good]), headers={**auth("clerk")})
    assert clerk.status_code == 403
    assert _counts(kit) == before  # nothing of any of them was recorded
    assert kit.transport(riders[0]) == 50_000


def test_the_cli_takes_a_file_in_parts_of_whole_terminals(
    kit: Kit, ykt: Ykt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YKT_DEMO", "true")  # the packaged fare policy's values are illustrative
    riders = _operator(kit)
    at = clock.now() - dt.timedelta(hours=3)
    rows = [
        (f"BUS-{line}", seq, riders[seq % 4].card_no, at + dt.timedelta(minutes=7 * seq))
        for line in LINES
        for seq in range(1, 4)
    ]
    parsed = ride_files.parse_ride_file(_csv(rows))
    assert list(ride_files.parts(parsed, most=6)) == [["BUS-1", "BUS-26"], ["BUS-321"]]
    assert list(ride_files.parts(parsed, most=5)) == [["BUS-1"], ["BUS-26"], ["BUS-321"]]
    assert list(ride_files.parts(parsed)) == [["BUS-1", "BUS-26", "BUS-321"]]
    path = tmp_path / "qd-bus-20250310.csv"
    path.write_text(_csv(rows), encoding="utf-8")

    taken = ykt("rides", "upload", str(path), "--merchant", "qd-bus")

    assert taken.exit_code == 0, taken.output
    assert "9 rides of 3 terminals" in taken.output
    assert _counts(kit)[0] == 9
    resent = ykt("rides", "upload", str(path), "--merchant", "qd-bus")
    assert resent.exit_code == 0, resent.output
    total = next(line for line in resent.output.splitlines() if "all" in line).split("│")
    assert [cell.strip() for cell in total[3:7]] == ["9", "0", "0", "9"]  # received … dupl.
    bad = tmp_path / "bad.csv"
    bad.write_text(_csv(rows) + "BUS-1,x,AAA,now,,,\n", encoding="utf-8")
    refused = ykt("rides", "upload", str(bad), "--merchant", "qd-bus")
    assert refused.exit_code == 2
    assert "line 11 (terminal_seq)" in refused.output
    assert _counts(kit)[0] == 9


def test_an_administrator_takes_in_a_file_in_the_console_and_the_staff_see_the_uploads(
    kit: Kit, client: TestClient
) -> None:
    riders = _operator(kit)
    at = clock.now() - dt.timedelta(hours=2)
    rows = [("BUS-26", 1, riders[0].card_no, at), ("BUS-1", 1, riders[0].card_no, at)]
    rows.append(("BUS-1", 2, riders[1].card_no, at + dt.timedelta(minutes=5)))
    client.cookies.set(COOKIE, issue_token(kit.node, "clerk-web", ["clerk"]))
    page = client.get("/console/ride-files")
    assert page.status_code == 200
    assert 'name="file"' not in page.text  # clerks see the uploads, administrators take files in
    refused = client.post(
        "/console/ride-files",
        data={"merchant": "qd-bus"},
        files={"file": ("qd-bus.csv", _csv(rows).encode())},
    )
    assert refused.status_code == 403
    client.cookies.set(COOKIE, issue_token(kit.node, "admin-web", ["admin"]))

    bad = client.post(
        "/console/ride-files",
        data={"merchant": "qd-bus"},
        files={"file": ("qd-bus.csv", (_csv(rows) + "BUS-1,x,AAA,now,,,\n").encode())},
    )
    taken = client.post(
        "/console/ride-files",
        data={"merchant": "qd-bus"},
        files={"file": ("qd-bus.csv", _csv(rows).encode())},
    )

    assert bad.status_code == 422 and 'data-line="5"' in bad.text
    assert taken.status_code == 200, taken.text
    assert 'data-terminal="BUS-26"' in taken.text and 'data-terminal="BUS-1"' in taken.text
    assert "3 笔交易" in taken.text
    assert _counts(kit) == (3, 2)  # nothing of the bad file, the good one as two uploads
    client.cookies.set("lang", "en")
    listed = client.get("/console/ride-files")
    assert "Latest offline uploads" in listed.text and listed.text.count("qd-bus") >= 2


def test_a_file_with_an_earlier_ride_refunds_the_ride_a_file_before_it_overcharged(
    kit: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    """The line-26 validator's rides reach the data centre a file later than line 321's: the
    rider's 08:30 ride on 321 was charged 300 without the transfer from line 26 at 08:00, and
    the second file refunds 100 of it (补退), counted against the upload that brought 08:00."""
    rider = _operator(kit)[0]
    day = clock.now().astimezone(_LOCAL).date()

    def at(hour: int, minute: int) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=_LOCAL)

    headers = {**auth("admin"), "Content-Type": "text/csv"}
    first = client.post(
        FILES, content=_csv([("BUS-321", 1, rider.card_no, at(8, 30))]), headers=headers
    )
    assert first.status_code == 200, first.text
    assert first.json()["uploads"][0]["fare_adjustments"] == 0
    second = client.post(
        FILES, content=_csv([("BUS-26", 1, rider.card_no, at(8, 0))]), headers=headers
    )
    assert second.status_code == 200, second.text
    [upload] = second.json()["uploads"]
    assert (upload["terminal_no"], upload["approved"], upload["fare_adjustments"]) == (
        "BUS-26",
        1,
        1,
    )
    assert kit.transport(rider) == 50_000 - 400
    again = client.post(
        FILES, content=_csv([("BUS-26", 1, rider.card_no, at(8, 0))]), headers=headers
    )
    assert again.json()["uploads"][0]["duplicates"] == 1
    assert again.json()["uploads"][0]["fare_adjustments"] == 0
    assert kit.transport(rider) == 50_000 - 400
