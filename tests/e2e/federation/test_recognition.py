"""Mutual recognition between two real nodes (互认), over HTTP both ways.

* Certificates (证明互认): a proof of insurance issued in Qingdao is verified in Jinan online
  (Qingdao's key from the league file, then Qingdao's register asked over the federation) and
  offline with nothing but the league file. With the issuing city down, the seal alone is
  checked: test_resilience.py.
* Medical insurance transfer (医保关系转移接续): a Jinan resident moves to Qingdao. Enrolling in
  Qingdao is all a clerk does (seed 000: the transfer is triggered by the enrolment); Jinan closes
  its record and sends the history by itself.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from tests.e2e.federation.conftest import JINAN, QINGDAO, City, run_ykt, wait_until
from yikatong.core.ids import make_resident_id
from yikatong.documents import service as documents
from yikatong.medical import service as medical
from yikatong.medical.models import TransferCase, TransferRole, TransferStatus
from yikatong.registry import service as registry

VERIFY = "/api/v1/documents/verify"


def _verify(city: City, certificate: bytes) -> httpx.Response:
    files = {"file": ("proof.pdf", certificate, "application/pdf")}
    return httpx.post(f"{city.url}{VERIFY}", files=files, timeout=30)


def test_a_qingdao_certificate_is_recognised_in_jinan_online_and_offline(
    two_cities: dict[str, City], tmp_path: Path
) -> None:
    qingdao, jinan = two_cities[QINGDAO], two_cities[JINAN]
    with qingdao.acting(), qingdao.node.transaction() as session:
        person = registry.enrol_resident(
            session,
            registry.ResidentInput(
                id_number=make_resident_id("370203", dt.date(1968, 3, 9), 511),
                name="孙海燕",
                district_code="370203",
            ),
            actor="e2e-clerk",
        )
        issued = documents.issue_document(
            session, person.id, "proof", actor="e2e-clerk", role="clerk"
        )
    certificate, serial = issued.pdf, issued.content.serial

    online = _verify(jinan, certificate)
    assert online.status_code == 200, online.text
    verdict = online.json()
    assert verdict["seal"]["city_code"] == QINGDAO
    # Jinan asked Qingdao's register: issued there, not revoked, and the genuine content.
    assert (verdict["registered"], verdict["registered_by"]) == (True, QINGDAO)
    assert verdict["content"]["serial"] == serial
    assert verdict["content"]["holder"]["name"] == "孙海燕"

    path = tmp_path / "proof.pdf"
    path.write_bytes(certificate)
    league_file = qingdao.env["YKT_LEAGUE_FILE"]
    offline = run_ykt({}, "document", "verify", str(path), "--league", league_file)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "VALID" in offline.stdout and "not checked (offline)" in offline.stdout

    # Revoked in Qingdao → refused in Jinan with the reason Qingdao gives.
    with qingdao.acting(), qingdao.node.transaction() as session:
        documents.revoke_document(session, serial, actor="e2e-clerk", reason="issued in error")
    revoked = _verify(jinan, certificate)
    assert revoked.status_code == 409, revoked.text
    assert revoked.json()["reason"] == "revoked"
    assert "issued in error" in revoked.json()["detail"]


ID_NUMBER = make_resident_id("370102", dt.date(1979, 8, 15), 301)


def _case(city: City, role: TransferRole) -> dict[str, Any] | None:
    with city.acting(), city.node.transaction() as session:
        case = session.scalars(select(TransferCase).where(TransferCase.role == role)).one_or_none()
        if case is None:
            return None
        return {
            "case_ref": case.case_ref,
            "status": case.status,
            "insured_years": list(case.insured_years),
            "covered_until": case.covered_until,
            "closed_on": case.closed_on,
            "id": case.id,
        }


def test_enrolling_in_qingdao_makes_jinan_close_the_record_and_send_the_history(
    two_cities: dict[str, City],
) -> None:
    qingdao, jinan = two_cities[QINGDAO], two_cities[JINAN]
    person = registry.ResidentInput(id_number=ID_NUMBER, name="赵文博", district_code="370102")
    # Insured in Jinan for 2025 and 2026, paid in each year's collection window.
    with jinan.acting(), jinan.node.transaction() as session:
        in_jinan = registry.enrol_resident(session, person, actor="e2e-clerk").id
        for year in (2025, 2026):
            medical.pay_contribution(
                session, in_jinan, year, channel="bank", tier="tier1",
                external_ref=f"JN-{year}", paid_on=dt.date(year - 1, 11, 2),
                idempotency_key=f"jn-contribution-{year}", actor="e2e-clerk",
            )  # fmt: skip
    # Moved to Qingdao: registered there, then enrolled naming the previous city.
    with qingdao.acting(), qingdao.node.transaction() as session:
        in_qingdao = registry.enrol_resident(
            session, person.model_copy(update={"district_code": "370202"}), actor="e2e-clerk"
        ).id
        medical.enrol(
            session, in_qingdao, 2026, tier="tier1", actor="e2e-clerk", previous_city_code=JINAN
        )

    def history_arrived() -> bool:
        case = _case(qingdao, TransferRole.NEW_CITY)
        return case is not None and case["status"] is TransferStatus.RECEIVED

    wait_until(history_arrived, timeout=60, what="Jinan's history to reach Qingdao")
    old = _case(jinan, TransferRole.OLD_CITY)
    new = _case(qingdao, TransferRole.NEW_CITY)
    assert old is not None and new is not None
    assert old["case_ref"] == new["case_ref"]
    # Jinan closed the record on receiving the request, with no clerk involved.
    assert old["status"] is TransferStatus.CLOSED
    assert old["closed_on"] is not None
    assert old["insured_years"] == new["insured_years"] == [2025, 2026]
    assert new["covered_until"] == dt.date(2026, 12, 31)

    with qingdao.acting(), qingdao.node.transaction() as session:
        done = medical.complete_transfer(session, new["id"], actor="e2e-clerk")
        assert done.status is TransferStatus.COMPLETED
    for city in (qingdao, jinan):
        letters = httpx.get(
            f"{city.url}/api/v1/federation/dead-letters", headers=city.admin_headers()
        ).json()
        assert letters == []
    # Each packet was applied once: one case on each side.
    with jinan.node.transaction() as session:
        assert len(session.scalars(select(TransferCase)).all()) == 1
