"""Use cases of certificates (电子证明): issue a proof of insurance (参保证明) or contribution details
(缴费明细) for a resident, verify one online or offline, revoke one.

Certificates are recognised across the league (互认): a node verifies another member city's seal
with that city's key from the league file, then asks the issuing city's register over a signed
request (``document.status``) whether the certificate was issued there and is not revoked.

A certificate shows only what the platform records, each value read through its domain's service:
the registry, the card, the e-SSC binding, and the ledger transfers of the resident's accounts.
Every issue is registered (serial, resident, type, digest) so that online verification also checks
that the serial was issued here and is not revoked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.audit import service as audit_service
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.clock import CHINA_TZ
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.core.money import format_yuan
from yikatong.crypto.keyring import TrustList
from yikatong.documents import codes, pdf
from yikatong.documents.codes import (
    DocumentContent,
    DocumentRejected,
    DocumentRevoked,
    RejectReason,
    SealClaims,
    Section,
)
from yikatong.documents.models import DocumentType, IssuedDocument
from yikatong.essc import service as essc_service
from yikatong.federation import rpc as federation_rpc
from yikatong.federation import service as federation_service
from yikatong.federation.envelope import Envelope
from yikatong.ledger import service as ledger_service
from yikatong.medical import service as medical_service
from yikatong.registry import service as registry_service

if TYPE_CHECKING:
    from yikatong.ledger.models import Account

# A contribution detail longer than this is refused: ask for a shorter period instead.
MAX_STATEMENT_LINES = 1000
MAX_PDF_BYTES = 5 * 1024 * 1024
MAX_MEMO_CHARS = 16

_CARD_STATES = {
    "applied": "已申领，制卡中",
    "issued": "已制卡，待启用",
    "active": "正常使用",
    "suspended": "临时挂失",
    "lost": "正式挂失",
    "replaced": "已补换",
    "cancelled": "已注销",
}
_CARD_CATEGORIES = {
    "ordinary": "普通卡",
    "senior_60": "老年卡（60-69岁）",
    "senior_70": "老年卡（70岁以上）",
    "disabled": "残疾人卡",
    "veteran": "优抚卡",
    "student": "学生卡",
}
_MEDICAL_CATEGORIES = {
    "tier1": "一档成年居民",
    "tier2": "二档成年居民",
    "child": "少年儿童",
    "student": "在校大学生",
}
_CHANNELS = {
    "card": "社保卡金融账户",
    "family": "家庭共济",
    "bank": "银行代缴",
    "app": "线上缴费",
    "tax": "税务征收",
}
_ACCOUNT_KINDS = {
    "card_financial": "社保卡金融账户",
    "card_transport": "社保卡交通账户",
}


@dataclass(frozen=True, slots=True)
class IssuedPdf:
    record: IssuedDocument
    content: DocumentContent
    pdf: bytes

    @property
    def filename(self) -> str:
        return f"{self.content.doc_type.value}-{self.content.serial}.pdf"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A certificate that passed verification. ``registered``: checked against the issuing
    city's register — this node's own, or (``checked_by``) another league city's, asked over the
    federation; False offline, or when the issuing city did not answer (``note`` says so)."""

    claims: SealClaims
    content: DocumentContent | None
    registered: bool
    seal_text: str = ""
    checked_by: str | None = None
    note: str | None = None


# --- issuing -------------------------------------------------------------------------------------


def parse_type(value: str) -> DocumentType:
    try:
        return DocumentType(value)
    except ValueError:
        raise InvalidInput(
            "type must be proof (参保证明) or contributions (缴费明细)", field="type"
        ) from None


def issuer_name() -> str:
    """The issuing office printed on certificates and their seal."""
    return f"{current_node.current().settings.city_name}市社会保险事业中心"


def _serial(city_code: str, at: dt.datetime) -> str:
    return f"{city_code}{at.astimezone(CHINA_TZ):%Y%m%d}{secrets.token_hex(4).upper()}"


def contribution_period(since: dt.date | None, until: dt.date | None) -> tuple[dt.date, dt.date]:
    """Inclusive local dates of a contribution detail; by default this year up to today."""
    today = clock.today()
    until = until or today
    since = since or dt.date(until.year, 1, 1)
    if until > today:
        raise InvalidInput(f"the period cannot end after today ({today})", field="until")
    if since > until:
        raise InvalidInput("the period must start on or before its end", field="since")
    return since, until


def issue_document(
    session: Session,
    resident_id: int,
    doc_type: DocumentType | str,
    *,
    actor: str,
    role: str,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> IssuedPdf:
    """Issue a certificate for a resident: build its content from the platform's records, seal it
    with this city's signing key, register it and print it. Staff issuance is audited."""
    doc_type = parse_type(doc_type) if isinstance(doc_type, str) else doc_type
    node = current_node.current()
    resident = registry_service.get_resident(session, resident_id)
    now = clock.now().replace(microsecond=0)
    if doc_type is DocumentType.PROOF:
        title = "社会保险参保证明"
        statement = (
            f"兹证明{resident.name}（公民身份号码{resident.id_masked}）在"
            f"{node.settings.city_name}社会保障卡一卡通平台的登记与参保信息如下，特此证明。"
        )
        sections = _proof_sections(session, resident_id)
    else:
        first, last = contribution_period(since, until)
        title = "社会保险缴费明细"
        statement = (
            f"{resident.name}（公民身份号码{resident.id_masked}）名下账户在"
            f"{first:%Y年%m月%d日}至{last:%Y年%m月%d日}期间的缴费及资金往来明细如下。"
        )
        sections = _contribution_sections(session, resident_id, first, last)
    content = DocumentContent(
        doc_type=doc_type,
        serial=_serial(node.city_code, now),
        city_code=node.city_code,
        issuer=issuer_name(),
        issued_at=now,
        title=title,
        holder_name=resident.name,
        holder_id_masked=resident.id_masked,
        statement=statement,
        sections=sections,
    )
    key = node.signing_key()
    qr_text = codes.seal(key, content)
    record = IssuedDocument(
        serial=content.serial,
        resident_id=resident_id,
        doc_type=doc_type,
        digest=content.digest().hex(),
        key_id=key.key_id,
        content=content.canonical().decode("utf-8"),
        issued_at=now,
        issued_by=actor[:64],
    )
    session.add(record)
    session.flush()
    if role != "resident":
        audit_service.record(
            session,
            actor=actor[:64],
            role=role,
            action="document.issue",
            subject_type="resident",
            subject_id=str(resident_id),
            reason=f"issued {doc_type.value} certificate {content.serial}",
        )
    return IssuedPdf(
        record, content, pdf.render_pdf(content, qr_text, city_name=node.settings.city_name)
    )


def _date(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        value = value.astimezone(CHINA_TZ).date()
    return f"{value:%Y-%m-%d}"


def _proof_sections(session: Session, resident_id: int) -> tuple[Section, ...]:
    resident = registry_service.get_resident(session, resident_id)
    status = "正常" if str(resident.status) == "active" else f"已死亡（{_date(resident.died_on)}）"
    person = Section(
        "一、人员登记信息",
        rows=(
            ("个人编号", resident.person_ref),
            ("性别", "男" if resident.sex == "M" else "女"),
            ("出生日期", _date(resident.birth_date)),
            ("所属区县代码", resident.district_code),
            ("登记状态", status),
        ),
    )
    card = cards_service.current_card_of(session, resident_id)
    if card is None:
        history = cards_service.list_cards(session, resident_id=resident_id, limit=1000)
        card = max(history, key=lambda c: c.id, default=None)
    if card is None:
        card_section = Section("二、社会保障卡", note="未申领社会保障卡。")
    else:
        card_section = Section(
            "二、社会保障卡",
            rows=(
                ("社会保障卡号", card.card_no),
                ("卡片状态", _CARD_STATES.get(str(card.state), str(card.state))),
                ("卡类别", _CARD_CATEGORIES[str(cards_service.card_category(session, card))]),
                ("申领日期", _date(card.applied_at)),
                ("启用日期", _date(card.activated_at)),
            ),
        )
    account = essc_service.account_of(session, resident_id)
    if account is None:
        essc_section = Section("三、电子社保卡", note="未签发电子社保卡。")
    else:
        essc_section = Section(
            "三、电子社保卡",
            rows=(("签发状态", "已签发"), ("签发日期", _date(account.created_at))),
        )
    enrolments = medical_service.enrolments_of(session, resident_id)
    medical_section = Section(
        "四、城乡居民基本医疗保险",
        columns=("参保年度", "参保类别", "缴费状态", "待遇享受起始日期"),
        rows=tuple(
            (
                f"{e.year}年度",
                _MEDICAL_CATEGORIES.get(e.category, e.category),
                "已缴费" if e.paid else "未缴费",
                _date(e.covered_from),
            )
            for e in enrolments
        ),
        note="" if enrolments else "无城乡居民基本医疗保险参保登记。",
    )
    return person, card_section, essc_section, medical_section


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=CHINA_TZ)


def _contribution_sections(
    session: Session, resident_id: int, first: dt.date, last: dt.date
) -> tuple[Section, ...]:
    period = f"{first:%Y-%m-%d}至{last:%Y-%m-%d}"
    sections = [_medical_contributions(session, resident_id, first, last, period)]
    accounts = _accounts_of(session, resident_id)
    if not accounts:
        sections.append(
            Section("二、资金账户", note=f"该居民在本平台没有资金账户，{period}期间无交易记录。")
        )
        return tuple(sections)
    since = _local_midnight(first)
    until = _local_midnight(last + dt.timedelta(days=1))
    for n, account in enumerate(accounts, start=2):
        statement = ledger_service.statement(
            session, account.id, since=since, until=until, limit=MAX_STATEMENT_LINES + 1
        )
        if len(statement.lines) > MAX_STATEMENT_LINES:
            raise InvalidInput(
                f"account {account.code} has more than {MAX_STATEMENT_LINES} entries in "
                f"{period}; choose a shorter period",
                field="since",
            )
        income_is_credit = str(account.normal_side) == "credit"
        rows = []
        for line in statement.lines:
            income, spent = (
                (line.credit, line.debit) if income_is_credit else (line.debit, line.credit)
            )
            rows.append(
                (
                    _date(line.at),
                    _memo(session, line.metadata, line.counterparty_account_id),
                    format_yuan(spent) if spent else "",
                    format_yuan(income) if income else "",
                    format_yuan(line.balance),
                )
            )
        summary = f"期初余额{format_yuan(statement.opening)}元，期末余额{format_yuan(statement.closing)}元"
        note = summary + ("。" if rows else f"；{period}期间无交易记录。")
        kind = _ACCOUNT_KINDS.get(str(account.kind), str(account.kind))
        sections.append(
            Section(
                f"{_ordinal(n)}、{kind}（{account.code}）",
                columns=("记账日期", "摘要", "支出（元）", "收入（元）", "余额（元）"),
                rows=tuple(rows),
                note=note,
            )
        )
    return tuple(sections)


def _medical_contributions(
    session: Session, resident_id: int, first: dt.date, last: dt.date, period: str
) -> Section:
    categories = {e.id: e.category for e in medical_service.enrolments_of(session, resident_id)}
    paid = [
        c
        for c in medical_service.contributions_of(session, resident_id)
        if first <= c.paid_on <= last
    ]
    return Section(
        "一、城乡居民基本医疗保险缴费",
        columns=("缴费日期", "缴费年度", "参保类别", "缴费渠道", "金额（元）", "状态"),
        rows=tuple(
            (
                _date(c.paid_on),
                f"{c.year}年度",
                _MEDICAL_CATEGORIES.get(categories.get(c.enrolment_id, ""), "—"),
                _CHANNELS.get(str(c.channel), str(c.channel)),
                format_yuan(c.amount),
                "已退费" if str(c.status) == "refunded" else "已缴费",
            )
            for c in paid
        ),
        note="" if paid else f"{period}期间无医疗保险缴费记录。",
    )


def _accounts_of(session: Session, resident_id: int) -> list[Account]:
    """The ledger accounts held for a resident: their own and those of each of their cards."""
    owners = [("resident", str(resident_id))] + [
        ("card", card.card_no)
        for card in cards_service.list_cards(session, resident_id=resident_id, limit=1000)
    ]
    found: dict[int, Account] = {}
    for owner_type, owner_id in owners:
        for account in ledger_service.list_accounts(
            session, owner_type=owner_type, owner_id=owner_id
        ):
            found[account.id] = account
    return [found[i] for i in sorted(found)]


def _ordinal(n: int) -> str:
    digits = "一二三四五六七八九十"
    return digits[n - 1] if n <= 10 else str(n)


def _memo(session: Session, metadata: dict[str, object], counterparty_id: int) -> str:
    for key in ("memo", "description", "purpose", "reason"):
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_MEMO_CHARS]
    counterparty = ledger_service.get_account(session, counterparty_id)
    return (counterparty.name or counterparty.code)[:MAX_MEMO_CHARS]


# --- register ------------------------------------------------------------------------------------


def get_document(session: Session, serial: str, *, for_update: bool = False) -> IssuedDocument:
    query = select(IssuedDocument).where(IssuedDocument.serial == serial.strip())
    if for_update:
        query = query.with_for_update()
    record = session.scalar(query)
    if record is None:
        raise NotFound(f"no certificate with serial {serial} was issued here")
    return record


def documents_of(session: Session, resident_id: int, *, limit: int = 100) -> list[IssuedDocument]:
    registry_service.get_resident(session, resident_id)
    return list(
        session.scalars(
            select(IssuedDocument)
            .where(IssuedDocument.resident_id == resident_id)
            .order_by(IssuedDocument.id.desc())
            .limit(limit)
        )
    )


def revoke_document(session: Session, serial: str, *, actor: str, reason: str) -> IssuedDocument:
    """Revoke a certificate (作废): online verification refuses it from now on."""
    if not reason.strip():
        raise InvalidInput("give the reason for revoking the certificate", field="reason")
    record = get_document(session, serial, for_update=True)
    if record.revoked_at is not None:
        raise Conflict(
            f"certificate {serial} was already revoked on {record.revoked_at.isoformat()}"
        )
    record.revoked_at = clock.now()
    record.revoked_by = actor[:64]
    record.revoke_reason = reason.strip()[:200]
    session.flush()
    return record


# --- verification --------------------------------------------------------------------------------


def trust_list() -> TrustList:
    """The keys this node accepts certificates from: its own (retired ones included) and, when
    the node is in a league, every member city's."""
    node = current_node.current()
    trust = node.own_trust_list()
    if node.settings.league_file is not None:
        for key in federation_service.league_of(node).trust.keys.values():
            trust.add(key)
    return trust


def read_certificate(data: bytes) -> pdf.PdfReading:
    """Read a PDF for verification; ``DocumentRejected`` (unreadable) when it cannot be."""
    if len(data) > MAX_PDF_BYTES:
        raise InvalidInput(
            f"the file is larger than {MAX_PDF_BYTES // (1024 * 1024)} MiB", field="file"
        )
    try:
        reading = pdf.read_pdf(data)
    except ValueError as exc:
        raise DocumentRejected(RejectReason.UNREADABLE, f"the file cannot be read: {exc}") from None
    if len(reading.qr_texts) != 1:
        found = "no" if not reading.qr_texts else "more than one"
        raise DocumentRejected(
            RejectReason.UNREADABLE,
            f"{found} QR code found on the certificate's first page; a certificate carries one",
        )
    return reading


def verify_offline(data: bytes, trust: TrustList) -> Verdict:
    """Verify a certificate PDF with nothing but the issuing cities' public keys (离线核验)."""
    reading = read_certificate(data)
    claims, content = codes.check_document(
        reading.qr_texts[0], reading.embedded, reading.text, trust
    )
    return Verdict(claims, content, registered=False, seal_text=reading.qr_texts[0])


def _check_register(session: Session, claims: SealClaims) -> IssuedDocument | None:
    if claims.city_code != current_node.current().city_code:
        return None
    record = session.scalar(select(IssuedDocument).where(IssuedDocument.serial == claims.serial))
    if record is None:
        raise DocumentRejected(
            RejectReason.NOT_ISSUED,
            f"no certificate with serial {claims.serial} was issued by this city",
        )
    if record.digest != claims.digest.hex() or record.doc_type != claims.doc_type:
        raise DocumentRejected(
            RejectReason.RECORD_MISMATCH,
            f"certificate {claims.serial} was issued with a different content",
        )
    if record.revoked_at is not None:
        raise DocumentRevoked(
            RejectReason.REVOKED,
            f"certificate {claims.serial} was revoked on "
            f"{record.revoked_at.astimezone(CHINA_TZ):%Y-%m-%d}: {record.revoke_reason}",
        )
    return record


def verify_pdf(session: Session, data: bytes) -> Verdict:
    """Online verification of a certificate PDF (在线核验): the offline checks, then this city's
    register (issued here, same digest, not revoked)."""
    reading = read_certificate(data)
    claims, content = codes.check_document(
        reading.qr_texts[0], reading.embedded, reading.text, trust_list()
    )
    record = _check_register(session, claims)
    return Verdict(
        claims,
        content,
        registered=record is not None,
        seal_text=reading.qr_texts[0],
        checked_by=claims.city_code if record is not None else None,
    )


def verify_qr_text(session: Session, text: str) -> Verdict:
    """Online verification of a scanned QR code: the seal, then the register, which also gives
    the genuine content to compare with the paper in hand."""
    claims = codes.check_seal(text, trust_list())
    record = _check_register(session, claims)
    content = DocumentContent.from_json(json.loads(record.content)) if record else None
    return Verdict(
        claims,
        content,
        registered=record is not None,
        seal_text=text,
        checked_by=claims.city_code if record is not None else None,
    )


# --- recognition across the league (证明互认) ------------------------------------------------------

DOCUMENT_STATUS = "document.status"
# How long a verifying city waits for the issuing city's register before answering without it.
REGISTER_TIMEOUT_SECONDS = 3.0


def confirm_with_issuer(node: current_node.Node, verdict: Verdict) -> Verdict:
    """A certificate of another league city, already verified by its seal: ask the issuing
    city's register (signed request). Revoked, never issued or issued with another content there
    → refused as the issuing city would refuse it. The issuing city not answering leaves the
    verdict as the seal alone gives it, with a ``note``.

    Opens no transaction and must not be called inside one: it waits on another city.
    """
    claims = verdict.claims
    if verdict.registered or claims.city_code == node.city_code or not verdict.seal_text:
        return verdict
    if node.settings.league_file is None:
        return verdict
    if claims.city_code not in federation_service.league_of(node).cities:
        return verdict
    try:
        answer = federation_rpc.call(
            node,
            claims.city_code,
            DOCUMENT_STATUS,
            {"seal": verdict.seal_text},
            timeout=REGISTER_TIMEOUT_SECONDS,
        )
    except (federation_rpc.PeerUnreachable, federation_rpc.RemoteRefused) as exc:
        return replace(
            verdict, note=f"the register of city {claims.city_code} was not checked: {exc.detail}"
        )
    status = str(answer.get("status", ""))
    if status != "valid":
        detail = f"city {claims.city_code} says: {answer.get('detail', status)}"
        try:
            reason = RejectReason(status)
        except ValueError:
            reason = RejectReason.NOT_ISSUED
        if reason is RejectReason.REVOKED:
            raise DocumentRevoked(reason, detail)
        raise DocumentRejected(reason, detail)
    content = verdict.content
    # An answer without (readable) content leaves the content checked on the PDF.
    with contextlib.suppress(ValueError):
        content = DocumentContent.from_json(answer.get("content"))
    return replace(verdict, registered=True, checked_by=claims.city_code, content=content)


def _register_status(session: Session, envelope: Envelope) -> dict[str, Any]:
    """Answer another city's ``document.status``: this city's seal and register, as verifying
    here online would (the content of a valid certificate included, as for a scanned code)."""
    text = envelope.body.get("seal")
    if not isinstance(text, str) or not text or len(text) > 1000:
        raise InvalidInput("seal must be the QR text of a certificate", field="seal")
    try:
        claims = codes.check_seal(text, current_node.current().own_trust_list())
        record = _check_register(session, claims)
    except DocumentRejected as exc:
        return {"status": exc.reason.value, "detail": exc.detail}
    if record is None:
        return {
            "status": RejectReason.NOT_ISSUED.value,
            "detail": f"certificate {claims.serial} was not issued by this city",
        }
    return {"status": "valid", "content": json.loads(record.content)}


federation_rpc.register_responder(DOCUMENT_STATUS, _register_status)
