"""HTTP API of the electronic SSC (电子社保卡): binding, family account, PIN, QR codes, verify.

Statuses of ``POST /verify``: 200 with the claims when the code is good; 422 problem when the
code itself is unacceptable (``reason``: malformed, unknown-key, bad-signature, wrong-city,
expired, not-yet-valid, key-retired); 409 problem when a genuine code is refused by state
(``reason``: replayed, card-not-active, denied).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from yikatong.api.auth import Principal, current_principal, require
from yikatong.api.deps import MAX_ROW_ID, NodeDep, RowId, SessionDep
from yikatong.core.errors import Forbidden
from yikatong.essc import qrimage, service
from yikatong.essc.models import EsscAccount, FamilyMember
from yikatong.essc.tokens import Level

router = APIRouter(prefix="/api/v1/essc", tags=["essc"])

PrincipalDep = Annotated[Principal, Depends(current_principal)]
_STAFF = ("clerk", "admin")


def _act_for(principal: Principal, resident_id: int) -> None:
    """Resident tokens act only for themselves; clerks and admins for anyone."""
    if principal.has(*_STAFF):
        return
    if principal.has("resident") and principal.resident_id == resident_id:
        return
    raise Forbidden("a resident token may only act on the resident's own e-SSC")


# --- accounts and family ------------------------------------------------------------------------


class BindIn(BaseModel):
    resident_id: int = Field(gt=0, le=MAX_ROW_ID)
    app_account_id: str = Field(min_length=3, max_length=64, examples=["wx_o6zAJs3oh85Z"])


class FamilyMemberOut(BaseModel):
    relative_id: int
    relation: str
    added_at: dt.datetime

    @classmethod
    def of(cls, member: FamilyMember) -> FamilyMemberOut:
        return cls(
            relative_id=member.relative_id, relation=member.relation, added_at=member.added_at
        )


class AccountOut(BaseModel):
    id: int
    resident_id: int
    app_account_id: str
    pin_set: bool
    pin_locked: bool
    family: list[FamilyMemberOut]

    @classmethod
    def of(cls, account: EsscAccount, family: list[FamilyMember]) -> AccountOut:
        return cls(
            id=account.id,
            resident_id=account.resident_id,
            app_account_id=account.app_account_id,
            pin_set=account.pin_hash is not None,
            pin_locked=account.locked_at is not None,
            family=[FamilyMemberOut.of(m) for m in family],
        )


@router.post(
    "/accounts",
    response_model=AccountOut,
    status_code=status.HTTP_201_CREATED,
    summary="Bind a resident to an e-SSC app account",
)
def bind(body: BindIn, session: SessionDep, principal: PrincipalDep) -> AccountOut:
    _act_for(principal, body.resident_id)
    account = service.bind_account(
        session, body.resident_id, body.app_account_id, actor=principal.subject
    )
    return AccountOut.of(account, [])


def _own_account(session: Session, principal: Principal, account_id: int) -> EsscAccount:
    account = service.get_account(session, account_id)
    _act_for(principal, account.resident_id)
    return account


@router.get("/accounts/{account_id}", response_model=AccountOut, summary="Read an e-SSC account")
def read_account(account_id: RowId, session: SessionDep, principal: PrincipalDep) -> AccountOut:
    account = _own_account(session, principal, account_id)
    return AccountOut.of(account, service.family_of(session, account_id))


class FamilyIn(BaseModel):
    relative_id: int = Field(gt=0, le=MAX_ROW_ID)


@router.post(
    "/accounts/{account_id}/family",
    response_model=AccountOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a registered relative to the family account (at most 8)",
)
def add_family(
    account_id: RowId, body: FamilyIn, session: SessionDep, principal: PrincipalDep
) -> AccountOut:
    account = _own_account(session, principal, account_id)
    service.add_family_member(session, account_id, body.relative_id, actor=principal.subject)
    return AccountOut.of(account, service.family_of(session, account_id))


@router.delete(
    "/accounts/{account_id}/family/{relative_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a relative from the family account",
)
def remove_family(
    account_id: RowId, relative_id: RowId, session: SessionDep, principal: PrincipalDep
) -> Response:
    _own_account(session, principal, account_id)
    service.remove_family_member(session, account_id, relative_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class PinIn(BaseModel):
    new_pin: str = Field(pattern=r"^\d{6}$", description="6 digits")
    current_pin: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="Needed when a PIN is already set"
    )


@router.put(
    "/accounts/{account_id}/pin",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set or change the payment PIN (the holder only)",
)
def put_pin(account_id: RowId, body: PinIn, node: NodeDep, principal: PrincipalDep) -> Response:
    def change(session: Session) -> None:
        account = service.get_account(session, account_id)
        if not (principal.has("resident") and principal.resident_id == account.resident_id):
            raise Forbidden("only the account holder sets the payment PIN")
        service.set_pin(session, account_id, body.new_pin, current_pin=body.current_pin)

    service.run_counting_pin_failures(node.transaction, change)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/accounts/{account_id}/pin",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Reset a forgotten or locked payment PIN (service point)",
)
def reset_pin(
    account_id: RowId,
    session: SessionDep,
    principal: Annotated[Principal, require(*_STAFF)],
) -> Response:
    service.reset_pin(session, account_id, actor=principal.subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- QR codes -----------------------------------------------------------------------------------


class QrIn(BaseModel):
    level: Level = Level.L1
    pin: str | None = Field(default=None, pattern=r"^\d{6}$", description="Required for L2")
    for_relative: int | None = Field(
        default=None, gt=0, description="A relative in the family account (L1 only)"
    )


class ClaimsOut(BaseModel):
    version: int
    level: Level
    card_ref: str
    city_code: str
    key_id: str
    algorithm: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    nonce: str


class QrOut(BaseModel):
    text: str = Field(description="The code's content (YK1: + base45)")
    png_base64: str = Field(description="The code as a PNG image, base64")
    claims: ClaimsOut


@router.post("/qr", response_model=QrOut, summary="Issue a dynamic QR code (resident)")
def issue_qr(
    body: QrIn, node: NodeDep, principal: Annotated[Principal, require("resident")]
) -> QrOut:
    resident_id = principal.resident_id
    if resident_id is None:
        raise Forbidden("this token carries no resident id")
    issued = service.run_counting_pin_failures(
        node.transaction,
        lambda session: service.issue_qr(
            session, resident_id, body.level, pin=body.pin, for_relative=body.for_relative
        ),
    )
    return QrOut(
        text=issued.text,
        png_base64=base64.b64encode(qrimage.render_png(issued.text)).decode(),
        claims=ClaimsOut(**issued.claims.to_json()),
    )


class VerifyIn(BaseModel):
    text: str = Field(min_length=1, max_length=512, description="The scanned code's content")


class IdentityOut(BaseModel):
    person_ref: str
    name: str = Field(examples=["张**"])
    id_number: str = Field(examples=["370202********123X"])


class VerdictOut(BaseModel):
    valid: bool = True
    claims: ClaimsOut
    identity: IdentityOut | None = Field(default=None, description="Masked holder, L1 only")


@router.post(
    "/verify",
    response_model=VerdictOut,
    summary="Verify a scanned code (terminal): 422/409 problem with `reason` when refused",
)
def verify(
    body: VerifyIn,
    session: SessionDep,
    _principal: Annotated[Principal, require("terminal", *_STAFF)],
    accept_city: Annotated[
        list[str] | None, Query(description="Cities whose codes this terminal accepts")
    ] = None,
) -> VerdictOut:
    verdict = service.verify_online(session, body.text.strip(), accept_cities=accept_city)
    identity = verdict.identity
    return VerdictOut(
        claims=ClaimsOut(**verdict.claims.to_json()),
        identity=IdentityOut(
            person_ref=identity.person_ref, name=identity.name, id_number=identity.id_number
        )
        if identity
        else None,
    )


@router.get("/trust-list", summary="Public keys of this city's e-SSC codes (public)")
def trust_list() -> list[dict[str, str | None]]:
    return service.own_trust_list().to_json()


class DenyEntryOut(BaseModel):
    seq: int
    card_ref: str
    action: str
    at: dt.datetime


@router.get(
    "/deny-list",
    response_model=list[DenyEntryOut],
    summary="Deny-list changes after `since` for offline verification (terminal)",
)
def deny_list(
    session: SessionDep,
    _principal: Annotated[Principal, require("terminal", *_STAFF)],
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> list[DenyEntryOut]:
    return [
        DenyEntryOut(seq=e.seq, card_ref=e.card_ref, action=e.action, at=e.at)
        for e in service.deny_list_delta(session, since, limit)
    ]
