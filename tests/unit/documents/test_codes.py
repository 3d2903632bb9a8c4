"""The certificate seal: its QR text round-trips, and every tampering has its own reason."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yikatong.crypto.keyring import SigningKey, TrustList
from yikatong.documents import codes
from yikatong.documents.codes import DocumentContent, DocumentRejected, RejectReason, Section
from yikatong.documents.models import DocumentType

T0 = dt.datetime(2025, 3, 10, 2, 0, tzinfo=dt.UTC)
SM2_KEY = SigningKey.generate("370200", "SM2", T0 - dt.timedelta(days=1))
ED_KEY = SigningKey.generate("370200", "Ed25519", T0 - dt.timedelta(days=1))
TRUST = TrustList()
TRUST.add(SM2_KEY.verify_key())
TRUST.add(ED_KEY.verify_key())

CONTENT = DocumentContent(
    doc_type=DocumentType.PROOF,
    serial="37020020250310A1B2C3D4",
    city_code="370200",
    issuer="青岛市社会保险事业中心",
    issued_at=T0,
    title="社会保险参保证明",
    holder_name="王小明",
    holder_id_masked="370202********0120",
    statement="兹证明王小明的登记信息如下。",
    sections=(Section("二、社会保障卡", rows=(("卡片状态", "正常使用"),)),),
)


def page_text(content: DocumentContent = CONTENT) -> str:
    # What pdftotext gives: the fields in reading order, broken across lines at will.
    return "\n".join(" ".join(value) for value in content.shown_fields())


def reason_of(
    qr: str, content: DocumentContent = CONTENT, *, text: str | None = None
) -> RejectReason:
    with pytest.raises(DocumentRejected) as caught:
        codes.check_document(
            qr, content.canonical(), page_text(content) if text is None else text, TRUST
        )
    return caught.value.reason


@pytest.mark.parametrize("key", [SM2_KEY, ED_KEY], ids=["SM2", "Ed25519"])
def test_a_sealed_certificate_verifies_offline_with_the_trust_list(key: SigningKey) -> None:
    qr = codes.seal(key, CONTENT)
    claims, content = codes.check_document(qr, CONTENT.canonical(), page_text(), TRUST)
    assert qr.startswith("YKD1:")
    assert claims.serial == CONTENT.serial
    assert claims.key_id == key.key_id
    assert claims.digest == CONTENT.digest()
    assert content == CONTENT


def test_the_qr_text_stays_in_the_alphanumeric_set() -> None:
    alphabet = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert set(codes.seal(SM2_KEY, CONTENT)) <= alphabet


@given(st.binary(max_size=300))
def test_base45_round_trips(data: bytes) -> None:
    assert codes.b45decode(codes.b45encode(data)) == data


def test_a_qr_code_of_another_kind_is_malformed() -> None:
    assert reason_of("YK1:ABCDEF") is RejectReason.MALFORMED
    assert reason_of("YKD1:!!") is RejectReason.MALFORMED


def test_an_altered_qr_code_fails_its_signature() -> None:
    qr = codes.seal(SM2_KEY, CONTENT)
    raw = bytearray(codes.b45decode(qr.removeprefix("YKD1:")))
    raw[20] ^= 0x01  # a bit of the digest
    assert reason_of("YKD1:" + codes.b45encode(bytes(raw))) is RejectReason.BAD_SIGNATURE


def test_a_key_outside_the_trust_list_is_unknown() -> None:
    stranger = SigningKey.generate("370200", "SM2", T0 - dt.timedelta(days=1))
    assert reason_of(codes.seal(stranger, CONTENT)) is RejectReason.UNKNOWN_KEY


def test_a_certificate_dated_before_its_key_existed_is_refused() -> None:
    early = dataclasses.replace(CONTENT, issued_at=T0 - dt.timedelta(days=30))
    assert reason_of(codes.seal(SM2_KEY, early), early) is RejectReason.KEY_RETIRED


def test_missing_embedded_content_is_refused() -> None:
    with pytest.raises(DocumentRejected) as caught:
        codes.check_document(codes.seal(SM2_KEY, CONTENT), None, page_text(), TRUST)
    assert caught.value.reason is RejectReason.CONTENT_MISSING


def test_edited_content_fails_the_digest() -> None:
    forged = dataclasses.replace(CONTENT, holder_name="李小明")
    qr = codes.seal(SM2_KEY, CONTENT)
    assert reason_of(qr, forged) is RejectReason.DIGEST_MISMATCH


def test_the_qr_code_of_another_certificate_is_refused() -> None:
    other = dataclasses.replace(CONTENT, serial="37020020250310FFFFFFFF")
    assert reason_of(codes.seal(SM2_KEY, other)) is RejectReason.QR_MISMATCH


def test_a_page_that_does_not_show_the_signed_content_is_refused() -> None:
    qr = codes.seal(SM2_KEY, CONTENT)
    altered = page_text().replace("王 小 明", "李 小 明")
    assert reason_of(qr, text=altered) is RejectReason.TEXT_MISMATCH


def test_the_issue_date_is_printed_in_beijing_time() -> None:
    late = dataclasses.replace(CONTENT, issued_at=dt.datetime(2025, 3, 10, 17, 0, tzinfo=dt.UTC))
    assert late.issued_on_text == "2025年3月11日"
    assert late.issued_at_text == "2025-03-11 01:00:00"
