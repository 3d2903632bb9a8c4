"""Issuing certificates: what the printed PDF shows (pdftotext), what its QR code carries (pdftoppm
+ zbarimg), and that every kind of tampering fails verification with its own reason."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from tests.integration.documents.conftest import People, pdf_text, row_shown, scan_qr
from tests.integration.documents.tampering import edit_embedded_content, edit_printed_text
from yikatong.audit import service as audit_service
from yikatong.documents import codes, pdf, service
from yikatong.documents.codes import DocumentRejected, DocumentRevoked, RejectReason
from yikatong.documents.models import DocumentType
from yikatong.node import Node


def issue(node: Node, resident_id: int, doc_type: str = "proof", **kw: object) -> service.IssuedPdf:
    with node.transaction() as session:
        return service.issue_document(
            session,
            resident_id,
            doc_type,
            actor="clerk-1",
            role="clerk",
            **kw,  # type: ignore[arg-type]
        )


def verify(node: Node, data: bytes) -> service.Verdict:
    with node.transaction() as session:
        return service.verify_pdf(session, data)


def reason(node: Node, data: bytes) -> RejectReason:
    with pytest.raises(DocumentRejected) as caught:
        verify(node, data)
    return caught.value.reason


def flat(text: str) -> str:
    return "".join(text.split())


def test_a_proof_of_insurance_shows_the_registry_card_and_essc_status(
    node: Node, people: People, tmp_path: Path
) -> None:
    person = people.resident()
    issued = issue(node, person.resident_id)
    text = flat(pdf_text(issued.pdf, tmp_path))
    assert issued.pdf.startswith(b"%PDF-")
    for shown in (
        "社会保险参保证明",
        issued.content.serial,
        "王小明",
        person.id_masked,
        f"社会保障卡号{person.card_no}",
        "卡片状态正常使用",
        "签发状态已签发",
        "登记状态正常",
        "出具单位：青岛市社会保险事业中心",
        "出具日期：2025年3月10日",
        "/api/v1/documents/verify",
    ):
        assert shown in text
    assert "370202198506" not in text  # the ID number is only ever shown masked


def test_the_qr_code_scanned_from_the_rendered_page_verifies(
    node: Node, people: People, tmp_path: Path
) -> None:
    person = people.resident()
    issued = issue(node, person.resident_id)
    scanned = scan_qr(issued.pdf, tmp_path)
    assert scanned.startswith("YKD1:")
    with node.transaction() as session:
        verdict = service.verify_qr_text(session, scanned)
    assert verdict.registered
    assert verdict.claims.serial == issued.content.serial
    assert verdict.claims.key_id == node.signing_key().key_id
    assert verdict.content == issued.content
    whole = verify(node, issued.pdf)
    assert whole.registered and whole.content == issued.content


def test_every_issue_is_registered_and_a_staff_issue_is_audited(node: Node, people: People) -> None:
    person = people.resident()
    issued = issue(node, person.resident_id)
    with node.transaction() as session:
        record = service.get_document(session, issued.content.serial)
        assert record.resident_id == person.resident_id
        assert record.doc_type is DocumentType.PROOF
        assert record.digest == issued.content.digest().hex()
        assert record.issued_by == "clerk-1"
        entries = audit_service.search(session, subject_id=str(person.resident_id))
    assert [e.action for e in entries] == ["document.issue"]
    assert issued.content.serial in entries[0].reason


def test_a_resident_without_card_or_essc_gets_a_proof_that_says_so(
    node: Node, people: People, tmp_path: Path
) -> None:
    person = people.resident(card=False)
    text = flat(pdf_text(issue(node, person.resident_id).pdf, tmp_path))
    assert "未申领社会保障卡。" in text
    assert "未签发电子社保卡。" in text


def test_contribution_details_list_the_ledger_transfers_with_running_balances(
    node: Node, people: People, tmp_path: Path
) -> None:
    person = people.resident()
    people.payments(person, [(350_000, "养老金发放"), (12_000, "高龄补贴")])
    issued = issue(node, person.resident_id, "contributions")
    text = flat(pdf_text(issued.pdf, tmp_path))
    assert "社会保险缴费明细" in text
    assert "2025年01月01日至2025年03月10日" in text
    assert "期初余额0.00元，期末余额3620.00元。" in text
    table = pdf_text(issued.pdf, tmp_path, layout=True)
    assert row_shown(table, "2025-03-10", "养老金发放", "3500.00", "3500.00")
    assert row_shown(table, "2025-03-10", "高龄补贴", "120.00", "3620.00")
    assert verify(node, issued.pdf).content == issued.content


def test_an_empty_period_says_there_were_no_entries(
    node: Node, people: People, tmp_path: Path
) -> None:
    person = people.resident()
    people.payments(person, [(5_000, "退费")])
    issued = issue(
        node,
        person.resident_id,
        "contributions",
        since=dt.date(2024, 1, 1),
        until=dt.date(2024, 12, 31),
    )
    text = flat(pdf_text(issued.pdf, tmp_path))
    assert "2024-01-01至2024-12-31期间无医疗保险缴费记录。" in text
    assert "期初余额0.00元，期末余额0.00元；2024-01-01至2024-12-31期间无交易记录。" in text
    assert "退费" not in text
    nobody = people.resident(name="李华")
    text = flat(pdf_text(issue(node, nobody.resident_id, "contributions").pdf, tmp_path))
    assert "该居民在本平台没有资金账户" in text


def test_edited_embedded_content_fails_the_digest(node: Node, people: People) -> None:
    issued = issue(node, people.resident().resident_id)
    forged = edit_embedded_content(issued.pdf, "王小明", "李小明")
    assert reason(node, forged) is RejectReason.DIGEST_MISMATCH


def test_altered_page_text_fails_the_text_check(node: Node, people: People) -> None:
    person = people.resident()
    issued = issue(node, person.resident_id)
    masked = person.id_masked
    forged = edit_printed_text(issued.pdf, masked, masked[:-4] + "9999")
    assert reason(node, forged) is RejectReason.TEXT_MISMATCH


def test_a_qr_code_taken_from_another_certificate_fails(node: Node, people: People) -> None:
    mine = issue(node, people.resident().resident_id)
    theirs = issue(node, people.resident(name="李华").resident_id)
    their_qr = codes.seal(node.signing_key(), theirs.content)
    forged = pdf.render_pdf(mine.content, their_qr, city_name="青岛")
    assert reason(node, forged) is RejectReason.QR_MISMATCH


def test_a_certificate_the_register_never_issued_fails_online(node: Node, people: People) -> None:
    issued = issue(node, people.resident().resident_id)
    unregistered = dataclasses.replace(issued.content, serial="37020020250310DEADBEEF")
    forged = pdf.render_pdf(
        unregistered, codes.seal(node.signing_key(), unregistered), city_name="青岛"
    )
    assert reason(node, forged) is RejectReason.NOT_ISSUED


def test_a_revoked_certificate_fails_online_but_its_signature_still_holds_offline(
    node: Node, people: People
) -> None:
    issued = issue(node, people.resident().resident_id)
    with node.transaction() as session:
        service.revoke_document(session, issued.content.serial, actor="clerk-2", reason="错开")
    with pytest.raises(DocumentRevoked) as caught:
        verify(node, issued.pdf)
    assert caught.value.reason is RejectReason.REVOKED
    assert service.verify_offline(issued.pdf, node.own_trust_list()).content == issued.content


def test_not_a_pdf_is_unreadable(node: Node) -> None:
    assert reason(node, b"%PDF-1.4 truncated") is RejectReason.UNREADABLE
    assert reason(node, b"hello") is RejectReason.UNREADABLE


def test_a_period_that_ends_before_it_starts_is_refused(node: Node, people: People) -> None:
    from yikatong.core.errors import InvalidInput

    person = people.resident()
    with pytest.raises(InvalidInput) as caught:
        issue(
            node,
            person.resident_id,
            "contributions",
            since=dt.date(2025, 3, 1),
            until=dt.date(2025, 2, 1),
        )
    assert caught.value.field == "since"


def test_medical_enrolment_and_its_payment_appear_on_both_certificates(
    node: Node, people: People, tmp_path: Path
) -> None:
    person = people.resident()
    people.medical_contribution(person, year=2025, paid_on=dt.date(2025, 2, 20))
    with node.transaction() as session:
        from yikatong.medical import service as medical_service

        contribution = medical_service.contributions_of(session, person.resident_id)[0]
        enrolment = medical_service.enrolments_of(session, person.resident_id)[0]
        covered_from = f"{enrolment.covered_from:%Y-%m-%d}"
    amount = f"{contribution.amount // 100}.{contribution.amount % 100:02d}"
    proof = pdf_text(issue(node, person.resident_id).pdf, tmp_path, layout=True)
    assert row_shown(proof, "2025年度", "一档成年居民", "已缴费", covered_from)
    details = issue(node, person.resident_id, "contributions").pdf
    shown = pdf_text(details, tmp_path, layout=True)
    assert row_shown(shown, "2025-02-20", "2025年度", "一档成年居民", "银行代缴", amount, "已缴费")


def test_a_long_statement_runs_over_pages_and_still_verifies(
    node: Node, people: People, tmp_path: Path
) -> None:
    person = people.resident()
    people.payments(person, [(100 + n, f"补贴{n:02d}") for n in range(60)])
    issued = issue(node, person.resident_id, "contributions")
    text = pdf_text(issued.pdf, tmp_path)
    assert text.count("\f") >= 2  # pdftotext ends each page with a form feed
    assert "补贴59" in text
    assert scan_qr(issued.pdf, tmp_path).startswith("YKD1:")
    assert verify(node, issued.pdf).content == issued.content
