"""Transfer between cities (医保关系转移接续): both sides' steps, the packets in the outbox,
working-day deadlines (seed 000: 9 working days end to end), recognised years and the ≤3-month
gap bridged without a waiting period. This node is Qingdao (370200); Yantai is 370600."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import AuthHeaders, Ykt
from tests.integration.medical._world import resident
from tests.integration.medical.conftest import beijing
from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.core.money import Fen
from yikatong.core.outbox import OutboxMessage
from yikatong.medical import service
from yikatong.medical.models import TransferCase, TransferRole, TransferStatus
from yikatong.medical.rules import WaitRule
from yikatong.node import Node
from yikatong.registry import service as registry

YANTAI = "370600"


def _outbox(session: Session, payload_type: str) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.payload_type == payload_type)
            .order_by(OutboxMessage.id)
        )
    )


def _history(
    session: Session, case: TransferCase, years: list[int], until: str | None
) -> TransferCase:
    """What the old city's packet does when the federation delivers it here."""
    return service.apply_transfer_packet(
        session, YANTAI, service.TRANSFER_HISTORY,
        {"case_ref": case.case_ref, "insured_years": years, "covered_until": until,
         "closed_on": "2025-03-12"},
    )  # fmt: skip


def test_moving_in_bridges_a_short_gap_and_recognises_the_years(
    session: Session, fixed_clock: clock.FixedClock
) -> None:
    person = resident(session, dt.date(1980, 5, 1), card=False)
    # enrolling here with the previous city starts the transfer by itself (Mon 2025-03-10)
    service.enrol(session, person, 2025, tier="tier1", actor="clerk-1", previous_city_code=YANTAI)
    case = session.scalars(select(TransferCase)).one()
    assert (case.role, case.status) == (TransferRole.NEW_CITY, TransferStatus.REQUESTED)
    assert case.old_city_due == dt.date(2025, 3, 24)  # 10 working days
    assert case.end_to_end_due == dt.date(2025, 3, 21)  # 9 working days (seed 000)
    [request] = _outbox(session, service.TRANSFER_REQUEST)
    assert (request.receiver, request.stream) == (YANTAI, service.TRANSFER_STREAM)
    assert request.body["case_ref"] == case.case_ref
    assert registry.find_by_id_number(session, request.body["id_number"]).id == person  # type: ignore[union-attr]
    assert case.messages == [request.message_id]
    # a second open transfer for the same person is refused
    with pytest.raises(Conflict):
        service.request_transfer(session, person, old_city_code=YANTAI, actor="clerk-1")

    fixed_clock.set(beijing(dt.date(2025, 3, 12)))
    received = _history(session, case, [2020, 2021, 2022, 2023, 2024], "2024-12-31")
    assert received.status is TransferStatus.RECEIVED
    assert received.new_city_due == dt.date(2025, 3, 19)  # 5 working days
    assert _history(session, case, [2000], None).insured_years == [2020, 2021, 2022, 2023, 2024]
    service.complete_transfer(session, case.id, actor="clerk-2")
    with pytest.raises(Conflict):
        service.complete_transfer(session, case.id, actor="clerk-2")

    # paid 2025-03-12, after the window: without the transfer a 3-month wait; the gap since
    # Yantai's cover (January–March) is ≤ 3 months → missed months paid, covered from 1 January
    paid = service.pay_contribution(
        session, person, 2025, channel="bank", tier="tier1", external_ref="ICBC-T1",
        paid_on=dt.date(2025, 3, 12), idempotency_key="transfer-0001", actor="clerk-2",
    )  # fmt: skip
    assert paid.decision is not None
    assert paid.decision.rule is WaitRule.TRANSFER
    assert paid.enrolment.covered_from == dt.date(2025, 1, 1)
    assert paid.enrolment.waiting_months == 0
    assert "3 missed month(s) from 2025-01-01" in paid.enrolment.explanation[-2]
    # Yantai's five years count as continuous enrolment here: the reward starts after four
    assert paid.enrolment.continuous_years == 5
    assert paid.reward == Fen(100000)


def test_a_gap_of_four_months_waits(session: Session, fixed_clock: clock.FixedClock) -> None:
    fixed_clock.set(beijing(dt.date(2025, 4, 15)))
    person = resident(session, dt.date(1980, 5, 1), card=False)
    case = service.request_transfer(session, person, old_city_code=YANTAI, actor="clerk-1")
    _history(session, case, [2024], "2024-12-31")
    service.complete_transfer(session, case.id, actor="clerk-1")
    paid = service.pay_contribution(
        session, person, 2025, channel="bank", tier="tier2", external_ref="ICBC-T2",
        paid_on=dt.date(2025, 4, 15), idempotency_key="transfer-0002", actor="clerk-1",
    )  # fmt: skip
    assert paid.decision is not None
    assert paid.decision.rule is WaitRule.LATE_PAYMENT
    assert paid.enrolment.covered_from == dt.date(2025, 7, 15)
    assert "4 month(s) without cover" in paid.enrolment.explanation[-2]
    assert "more than 3: the wait applies" in paid.enrolment.explanation[-2]


def test_old_city_closes_the_record_and_sends_the_history(
    session: Session, fixed_clock: clock.FixedClock
) -> None:
    person = resident(session, dt.date(1975, 6, 6), card=False)
    for year, paid_on in ((2024, dt.date(2023, 11, 1)), (2025, dt.date(2024, 11, 1))):
        service.pay_contribution(
            session, person, year, channel="bank", tier="tier1", external_ref=f"R-{year}",
            paid_on=paid_on, idempotency_key=f"old-city-{year}", actor="test",
        )  # fmt: skip
    id_number = registry.reveal(
        session, person, actor="test", role="clerk", reason="test", fields=("id_number",)
    )["id_number"]
    ref = str(uuid.uuid4())
    packet = {"case_ref": ref, "id_number": id_number, "new_city_code": YANTAI,
              "requested_on": "2025-03-07"}  # fmt: skip
    case = service.apply_transfer_packet(session, YANTAI, service.TRANSFER_REQUEST, packet)
    assert (case.role, case.resident_id) == (TransferRole.OLD_CITY, person)
    assert case.old_city_due == dt.date(2025, 3, 24)  # 10 working days from receipt (03-10)
    assert case.end_to_end_due == dt.date(2025, 3, 20)  # 9 working days from the request
    assert service.apply_transfer_packet(session, YANTAI, service.TRANSFER_REQUEST, packet) is case
    with pytest.raises(InvalidInput):
        service.apply_transfer_packet(
            session, "370100", service.TRANSFER_REQUEST, {**packet, "case_ref": str(uuid.uuid4())}
        )
    with pytest.raises(Conflict):  # this city is not the new city of that case
        service.complete_transfer(session, case.id, actor="clerk")

    sent = service.send_transfer_history(session, case.id, actor="clerk-yt")
    assert sent.status is TransferStatus.CLOSED
    [history] = _outbox(session, service.TRANSFER_HISTORY)
    assert history.receiver == YANTAI
    assert history.body["insured_years"] == [2024, 2025]
    assert history.body["covered_until"] == "2025-12-31"
    with pytest.raises(Conflict):
        service.send_transfer_history(session, case.id, actor="clerk-yt")
    # the record is closed here: no enrolment for a later year
    with pytest.raises(Conflict, match="transferred out"):
        service.enrol(session, person, 2026, tier="tier1", actor="clerk")


def test_unknown_history_is_refused(session: Session) -> None:
    with pytest.raises(NotFound):
        service.apply_transfer_packet(
            session, YANTAI, service.TRANSFER_HISTORY,
            {"case_ref": str(uuid.uuid4()), "insured_years": [], "covered_until": None},
        )  # fmt: skip
    with pytest.raises(InvalidInput):
        service.apply_transfer_packet(session, YANTAI, "medical.transfer.other", {"case_ref": "x"})


def test_overdue_transfers_are_listed_by_api_and_cli(
    demo_node: Node,
    demo_client: TestClient,
    auth: AuthHeaders,
    ykt: Ykt,
    fixed_clock: clock.FixedClock,
) -> None:
    with demo_node.transaction() as session:
        late = resident(session, dt.date(1980, 1, 1), card=False)
        on_time = resident(session, dt.date(1981, 1, 1), card=False)
    clerk = auth("clerk")
    made = demo_client.post(
        "/api/v1/medical/transfers", json={"resident_id": late, "old_city_code": YANTAI},
        headers=clerk,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["end_to_end_due"] == "2025-03-21"
    for bad, field in (({"resident_id": late, "old_city_code": "37060"}, "old_city_code"),
                       ({"resident_id": on_time, "old_city_code": "370200"}, "old_city_code")):  # fmt: skip
        refused = demo_client.post("/api/v1/medical/transfers", json=bad, headers=clerk)
        assert refused.status_code == 422, refused.text
        assert field in refused.text
    # Mon 2025-03-24: the 9 working days ended Fri 03-21 → one working day late
    fixed_clock.set(beijing(dt.date(2025, 3, 24)))
    clerk = auth("clerk")  # tokens issued now, not two weeks ago
    second = demo_client.post(
        "/api/v1/medical/transfers", json={"resident_id": on_time, "old_city_code": YANTAI},
        headers=clerk,
    )  # fmt: skip
    assert second.status_code == 201
    overdue = demo_client.get("/api/v1/medical/transfers?overdue=true", headers=auth("auditor"))
    assert overdue.status_code == 200
    [row] = overdue.json()
    assert row["resident_id"] == late
    assert row["overdue"] == ["the whole transfer was due 2025-03-21: 1 working day(s) late"]
    assert len(demo_client.get("/api/v1/medical/transfers", headers=clerk).json()) == 2
    assert (
        demo_client.get(
            "/api/v1/medical/transfers", headers=auth("resident", resident_id=late)
        ).status_code
        == 403
    )
    # Tue 03-25: the old city's 10 days have passed as well
    fixed_clock.set(beijing(dt.date(2025, 3, 25)))
    listed = ykt("medical", "transfers", "--overdue")
    assert listed.exit_code == 0, listed.output
    assert "1 transfer(s) overdue" in listed.output
    assert "old city's step was due 2025-03-24" in listed.output
