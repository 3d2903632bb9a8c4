"""HTTP API of certificates (电子证明): download, issue, list, revoke, verify.

``POST /verify`` is public (anyone holding a certificate may check it): 200 when it is genuine;
422 problem with ``reason`` when it is not (unreadable, malformed, unknown-key, bad-signature,
wrong-city, key-retired, content-missing, qr-mismatch, digest-mismatch, text-mismatch, not-issued,
record-mismatch); 409 problem with ``reason`` ``revoked`` when the issuing city revoked it.
A certificate of another league city is checked with that city's key and then against its
register, asked over the federation (``registered_by`` names the city whose register answered).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from yikatong.api.auth import Principal, current_principal, require
from yikatong.api.deps import MAX_ROW_ID, NodeDep, SessionDep
from yikatong.core.errors import Forbidden, InvalidInput
from yikatong.documents import service
from yikatong.documents.models import DocumentType, IssuedDocument

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])

PrincipalDep = Annotated[Principal, Depends(current_principal)]
_STAFF = ("clerk", "admin")
_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The certificate as PDF"}
}


def _resident_for(principal: Principal, resident_id: int | None) -> tuple[int, str]:
    """Whose certificate: a resident's own, or any resident's for a clerk (audited)."""
    if principal.has(*_STAFF):
        if resident_id is None:
            raise InvalidInput("staff must name the resident", field="resident_id")
        return resident_id, "clerk" if principal.has("clerk") else "admin"
    if principal.has("resident") and principal.resident_id is not None:
        if resident_id not in (None, principal.resident_id):
            raise Forbidden("a resident may only download their own certificates")
        return principal.resident_id, "resident"
    raise Forbidden("certificates are downloaded by the resident or issued by a clerk")


def _pdf_response(issued: service.IssuedPdf) -> Response:
    return Response(
        issued.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{issued.filename}"',
            "X-Document-Serial": issued.content.serial,
        },
    )


ResidentQuery = Annotated[
    int | None,
    Query(gt=0, le=MAX_ROW_ID, description="The resident (staff only; residents get their own)"),
]


@router.get(
    "/proof-of-insurance.pdf",
    response_class=Response,
    responses=_PDF,
    summary="Proof of insurance (参保证明) as a signed PDF",
)
def proof_of_insurance(
    session: SessionDep, principal: PrincipalDep, resident_id: ResidentQuery = None
) -> Response:
    rid, role = _resident_for(principal, resident_id)
    return _pdf_response(
        service.issue_document(session, rid, DocumentType.PROOF, actor=principal.subject, role=role)
    )


@router.get(
    "/contributions.pdf",
    response_class=Response,
    responses=_PDF,
    summary="Contribution details (缴费明细) over a period as a signed PDF",
)
def contributions(
    session: SessionDep,
    principal: PrincipalDep,
    resident_id: ResidentQuery = None,
    since: Annotated[dt.date | None, Query(description="First day (default 1 January)")] = None,
    until: Annotated[dt.date | None, Query(description="Last day (default today)")] = None,
) -> Response:
    rid, role = _resident_for(principal, resident_id)
    return _pdf_response(
        service.issue_document(
            session,
            rid,
            DocumentType.CONTRIBUTIONS,
            actor=principal.subject,
            role=role,
            since=since,
            until=until,
        )
    )


class IssueIn(BaseModel):
    resident_id: int = Field(gt=0, le=MAX_ROW_ID)
    type: DocumentType
    since: dt.date | None = None
    until: dt.date | None = None


@router.post(
    "",
    response_class=Response,
    responses=_PDF,
    summary="A clerk issues a certificate for a resident (audited)",
)
def issue(
    body: IssueIn,
    session: SessionDep,
    principal: Annotated[Principal, require(*_STAFF)],
) -> Response:
    _, role = _resident_for(principal, body.resident_id)
    return _pdf_response(
        service.issue_document(
            session,
            body.resident_id,
            body.type,
            actor=principal.subject,
            role=role,
            since=body.since,
            until=body.until,
        )
    )


class DocumentOut(BaseModel):
    serial: str
    resident_id: int
    type: DocumentType
    digest: str
    key_id: str
    issued_at: dt.datetime
    issued_by: str
    revoked_at: dt.datetime | None
    revoked_by: str | None
    revoke_reason: str | None

    @classmethod
    def of(cls, record: IssuedDocument) -> DocumentOut:
        return cls(
            serial=record.serial,
            resident_id=record.resident_id,
            type=record.doc_type,
            digest=record.digest,
            key_id=record.key_id,
            issued_at=record.issued_at,
            issued_by=record.issued_by,
            revoked_at=record.revoked_at,
            revoked_by=record.revoked_by,
            revoke_reason=record.revoke_reason,
        )


@router.get("", response_model=list[DocumentOut], summary="Certificates issued for a resident")
def list_documents(
    session: SessionDep,
    principal: PrincipalDep,
    resident_id: ResidentQuery = None,
) -> list[DocumentOut]:
    if principal.has("auditor") and resident_id is not None:
        rid = resident_id
    else:
        rid, _ = _resident_for(principal, resident_id)
    return [DocumentOut.of(r) for r in service.documents_of(session, rid)]


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200, examples=["issued to the wrong person"])


@router.post(
    "/{serial}/revoke",
    response_model=DocumentOut,
    summary="Revoke a certificate (作废): online verification refuses it from now on",
)
def revoke(
    serial: str,
    body: RevokeIn,
    session: SessionDep,
    principal: Annotated[Principal, require(*_STAFF)],
) -> DocumentOut:
    if not serial.isalnum() or len(serial) > 40:
        raise InvalidInput("a serial is up to 40 letters and digits", field="serial")
    return DocumentOut.of(
        service.revoke_document(session, serial, actor=principal.subject, reason=body.reason)
    )


class SealOut(BaseModel):
    type: DocumentType
    serial: str
    city_code: str
    key_id: str
    algorithm: str
    issued_at: dt.datetime
    digest: str


class VerdictOut(BaseModel):
    valid: bool = True
    registered: bool = Field(description="Checked against the issuing city's register of issues")
    registered_by: str | None = Field(
        default=None, description="City whose register answered (this one or the issuing city)"
    )
    note: str | None = Field(default=None, description="Why the register was not checked")
    seal: SealOut
    content: dict[str, Any] | None = Field(
        default=None, description="What the genuine certificate says (compare with the paper)"
    )


def _verdict(session: Session, file: UploadFile | None, text: str | None) -> service.Verdict:
    if (file is None) == (text is None or not text.strip()):
        raise InvalidInput("send either the PDF as `file` or the QR code's `text`", field="file")
    if file is not None:
        data = file.file.read(service.MAX_PDF_BYTES + 1)
        return service.verify_pdf(session, data)
    assert text is not None
    return service.verify_qr_text(session, text)


@router.post(
    "/verify",
    response_model=VerdictOut,
    summary="Verify a certificate (public): the PDF or its QR code's text",
)
def verify(
    node: NodeDep,
    file: Annotated[UploadFile | None, File(description="The certificate PDF")] = None,
    text: Annotated[
        str | None, Form(max_length=1000, description="The scanned QR code's content")
    ] = None,
) -> VerdictOut:
    with node.transaction() as session:
        verdict = _verdict(session, file, text)
    # Another league city's certificate: its register is asked with no transaction open here.
    verdict = service.confirm_with_issuer(node, verdict)
    claims = verdict.claims
    return VerdictOut(
        registered=verdict.registered,
        registered_by=verdict.checked_by,
        note=verdict.note,
        seal=SealOut(
            type=claims.doc_type,
            serial=claims.serial,
            city_code=claims.city_code,
            key_id=claims.key_id,
            algorithm=claims.algorithm,
            issued_at=claims.issued_at,
            digest=claims.digest.hex(),
        ),
        content=verdict.content.to_json() if verdict.content else None,
    )
