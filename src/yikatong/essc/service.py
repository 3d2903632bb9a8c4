"""Use cases of the electronic SSC (电子社保卡): binding, family account, payment PIN, QR codes.

A code is issued for the holder's live, active card and verified online by a terminal: the offline
checks of ``tokens.verify_offline``, then single use (一码一用) and the card's current state, so a
card reported lost kills its codes at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.errors import Conflict, Forbidden, InvalidInput, Locked, NotFound
from yikatong.crypto.keyring import TrustList
from yikatong.essc import tokens
from yikatong.essc.models import EsscAccount, FamilyMember, UsedNonce
from yikatong.essc.tokens import Level, RejectReason, TokenClaims, TokenRefused
from yikatong.registry import service as registry_service

# DOMAIN.md §3: a family account (亲情账户) holds up to 8 relatives.
MAX_FAMILY_MEMBERS = 8
MAX_PIN_ATTEMPTS = 5
PIN_LOCK = dt.timedelta(hours=24)
# scrypt cost: about 16 MiB and tens of milliseconds per try, so a stolen table of 6-digit PINs
# cannot be brute-forced in bulk; the per-account salt defeats precomputation.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_PIN = re.compile(r"\d{6}")
_APP_ACCOUNT = re.compile(r"[A-Za-z0-9_.@+-]{3,64}")

T = TypeVar("T")


class WrongPin(Forbidden):
    """The payment PIN did not match (HTTP 403). Counted by ``record_wrong_pin``."""

    slug = "wrong-pin"
    title = "Wrong payment PIN"

    def __init__(self, detail: str, *, account_id: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.account_id = account_id


@dataclass(frozen=True, slots=True)
class IssuedQr:
    text: str
    claims: TokenClaims
    resident_id: int  # whose card the code stands for (the relative's for a family code)


@dataclass(frozen=True, slots=True)
class MaskedIdentity:
    """What an identity check (L1) may show: never the full name or ID number."""

    person_ref: str
    name: str
    id_number: str


@dataclass(frozen=True, slots=True)
class OnlineVerdict:
    claims: TokenClaims
    identity: MaskedIdentity | None


# --- accounts -----------------------------------------------------------------------------------


def bind_account(
    session: Session, resident_id: int, app_account_id: str, *, actor: str
) -> EsscAccount:
    """Bind a resident to an e-SSC app account (电子社保卡签发): one account per resident."""
    app_account_id = app_account_id.strip()
    if not _APP_ACCOUNT.fullmatch(app_account_id):
        raise InvalidInput(
            "app account id must be 3–64 letters, digits or . _ @ + -", field="app_account_id"
        )
    resident = registry_service.get_resident(session, resident_id)
    if resident.status == "deceased":
        raise Conflict(f"resident {resident_id} is recorded as deceased; no e-SSC can be bound")
    if cards_service.current_card_of(session, resident_id) is None:
        raise Conflict(
            f"resident {resident_id} has no live social security card; apply for a card first"
        )
    existing = account_of(session, resident_id)
    if existing is not None:
        raise Conflict(
            f"resident {resident_id} already has e-SSC account {existing.id}; "
            "unbind it before binding another app account"
        )
    if session.scalar(select(EsscAccount.id).where(EsscAccount.app_account_id == app_account_id)):
        raise Conflict(
            f"app account {app_account_id} is already bound to another resident",
            errors=[{"field": "app_account_id", "reason": "already bound"}],
        )
    account = EsscAccount(
        resident_id=resident_id,
        app_account_id=app_account_id,
        failed_pin_attempts=0,
        created_at=clock.now(),
    )
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, account_id: int, *, for_update: bool = False) -> EsscAccount:
    account = session.get(EsscAccount, account_id, with_for_update=for_update)
    if account is None:
        raise NotFound(f"no e-SSC account {account_id}; bind the e-SSC first")
    return account


def account_of(session: Session, resident_id: int) -> EsscAccount | None:
    return session.scalar(select(EsscAccount).where(EsscAccount.resident_id == resident_id))


def account_by_app_id(session: Session, app_account_id: str) -> EsscAccount | None:
    """The e-SSC account bound to an app account, if any (app sign-in)."""
    return session.scalar(
        select(EsscAccount).where(EsscAccount.app_account_id == app_account_id.strip())
    )


def app_accounts(session: Session, *, prefix: str, limit: int = 10) -> list[str]:
    """App account ids starting with ``prefix``, oldest first (the demo lists its accounts)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(
        session.scalars(
            select(EsscAccount.app_account_id)
            .where(EsscAccount.app_account_id.like(escaped + "%", escape="\\"))
            .order_by(EsscAccount.id)
            .limit(limit)
        )
    )


def _account_of_holder(session: Session, resident_id: int) -> EsscAccount:
    account = account_of(session, resident_id)
    if account is None:
        raise NotFound(f"resident {resident_id} has no e-SSC account; bind the e-SSC first")
    return account


# --- family account -----------------------------------------------------------------------------


def family_of(session: Session, account_id: int) -> list[FamilyMember]:
    get_account(session, account_id)
    return list(
        session.scalars(
            select(FamilyMember)
            .where(FamilyMember.account_id == account_id)
            .order_by(FamilyMember.id)
        )
    )


def add_family_member(
    session: Session, account_id: int, relative_id: int, *, actor: str
) -> FamilyMember:
    """Add a registered relative to the family account (亲情账户), at most eight."""
    # The row lock keeps two concurrent additions from both taking the eighth place.
    account = get_account(session, account_id, for_update=True)
    if relative_id == account.resident_id:
        raise InvalidInput(
            "the account holder cannot be their own family member", field="relative_id"
        )
    relative = registry_service.get_resident(session, relative_id)
    relation = registry_service.relation_between(session, account.resident_id, relative_id)
    if relation is None:
        raise InvalidInput(
            f"resident {relative_id} is not a registered relative of the account holder; "
            "record the relation at a service point first",
            field="relative_id",
        )
    if relative.status == "deceased":
        raise Conflict(f"resident {relative_id} is recorded as deceased")
    members = family_of(session, account_id)
    if any(m.relative_id == relative_id for m in members):
        raise Conflict(f"resident {relative_id} is already in this family account")
    if len(members) >= MAX_FAMILY_MEMBERS:
        raise Conflict(
            f"the family account already holds {MAX_FAMILY_MEMBERS} relatives, the maximum; "
            "remove one before adding another"
        )
    member = FamilyMember(
        account_id=account_id,
        relative_id=relative_id,
        relation=str(relation),
        added_by=actor[:64],
        added_at=clock.now(),
    )
    session.add(member)
    session.flush()
    return member


def remove_family_member(session: Session, account_id: int, relative_id: int) -> None:
    get_account(session, account_id)
    member = session.scalar(
        select(FamilyMember).where(
            FamilyMember.account_id == account_id, FamilyMember.relative_id == relative_id
        )
    )
    if member is None:
        raise NotFound(f"resident {relative_id} is not in family account {account_id}")
    session.delete(member)
    session.flush()


# --- payment PIN --------------------------------------------------------------------------------


def _hash_pin(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)


def _check_pin_format(pin: str | None, field: str) -> str:
    if pin is None or not _PIN.fullmatch(pin):
        raise InvalidInput("the payment PIN must be exactly 6 digits", field=field)
    return pin


def _locked_until(account: EsscAccount, now: dt.datetime) -> dt.datetime | None:
    if account.locked_at is None or now >= account.locked_at + PIN_LOCK:
        return None
    return account.locked_at + PIN_LOCK


def check_pin(session: Session, account: EsscAccount, pin: str | None) -> None:
    """Check the payment PIN. Raises ``Locked`` (423) or ``WrongPin`` (403); the failure only
    counts once ``record_wrong_pin`` runs in a committed transaction (see
    ``run_counting_pin_failures``)."""
    now = clock.now()
    until = _locked_until(account, now)
    if until is not None:
        raise Locked(
            f"the payment PIN is locked after {MAX_PIN_ATTEMPTS} wrong tries until "
            f"{until.isoformat()}; a service point can reset it sooner",
            locked_until=until.isoformat(),
        )
    pin = _check_pin_format(pin, "pin")
    if account.pin_hash is None or account.pin_salt is None:
        raise Conflict("no payment PIN is set; set a 6-digit PIN first")
    if not hmac.compare_digest(_hash_pin(pin, account.pin_salt), account.pin_hash):
        raise WrongPin("the payment PIN is wrong", account_id=account.id)
    if account.failed_pin_attempts or account.locked_at is not None:
        account.failed_pin_attempts = 0
        account.locked_at = None
        session.flush()


def record_wrong_pin(session: Session, account_id: int) -> WrongPin | Locked:
    """Count one wrong PIN; the fifth in a row locks the PIN for 24 h. Returns the error to raise."""
    account = get_account(session, account_id, for_update=True)
    now = clock.now()
    if account.locked_at is not None and _locked_until(account, now) is None:
        # An expired lock starts a fresh count.
        account.locked_at = None
        account.failed_pin_attempts = 0
    account.failed_pin_attempts += 1
    left = MAX_PIN_ATTEMPTS - account.failed_pin_attempts
    if left <= 0 and account.locked_at is None:
        account.locked_at = now
    session.flush()
    until = _locked_until(account, now)
    if until is not None:
        return Locked(
            f"wrong payment PIN {MAX_PIN_ATTEMPTS} times: locked until {until.isoformat()}; "
            "a service point can reset it sooner",
            locked_until=until.isoformat(),
        )
    return WrongPin(
        f"the payment PIN is wrong; {left} tries left before it locks for 24 hours",
        account_id=account_id,
        tries_left=left,
    )


def run_counting_pin_failures(
    transaction: Callable[[], AbstractContextManager[Session]],
    action: Callable[[Session], T],
) -> T:
    """Run ``action`` in one transaction; if it fails on a wrong PIN, count the failure in a
    second transaction that commits (the first one rolls back) and raise the counted error.

    Edges call this with ``node.transaction`` so a wrong PIN is never lost to the rollback.
    """
    try:
        with transaction() as session:
            return action(session)
    except WrongPin as exc:
        with transaction() as session:
            counted = record_wrong_pin(session, exc.account_id)
        raise counted from None


def set_pin(
    session: Session, account_id: int, new_pin: str, *, current_pin: str | None = None
) -> None:
    """Set or change the 6-digit payment PIN (支付密码); changing it needs the current one."""
    account = get_account(session, account_id, for_update=True)
    new_pin = _check_pin_format(new_pin, "new_pin")
    if account.pin_hash is not None:
        if current_pin is None:
            raise InvalidInput(
                "a PIN is already set: give the current PIN to change it, or have a service "
                "point reset it",
                field="current_pin",
            )
        check_pin(session, account, current_pin)
    salt = os.urandom(16)
    account.pin_salt = salt
    account.pin_hash = _hash_pin(new_pin, salt)
    account.failed_pin_attempts = 0
    account.locked_at = None
    session.flush()


def reset_pin(session: Session, account_id: int, *, actor: str) -> EsscAccount:
    """A clerk resets a forgotten or locked PIN (重置支付密码): the lock lifts and the resident
    sets a new PIN without the old one."""
    account = get_account(session, account_id, for_update=True)
    account.pin_hash = None
    account.pin_salt = None
    account.failed_pin_attempts = 0
    account.locked_at = None
    session.flush()
    return account


# --- QR codes -----------------------------------------------------------------------------------


def issue_qr(
    session: Session,
    resident_id: int,
    level: Level | str,
    *,
    pin: str | None = None,
    for_relative: int | None = None,
) -> IssuedQr:
    """Issue a dynamic QR code (动态二维码) for the holder's card, or an L1 code for a relative in
    the holder's family account. L2 (payment) needs the correct PIN."""
    try:
        level = Level(level)
    except ValueError:
        raise InvalidInput("level must be L1 (identity) or L2 (payment)", field="level") from None
    account = _account_of_holder(session, resident_id)
    card_holder = resident_id
    if for_relative is not None:
        if level is Level.L2:
            raise InvalidInput(
                "a relative's code can only be L1 (identity); payment needs their own e-SSC",
                field="level",
            )
        in_family = session.scalar(
            select(FamilyMember.id).where(
                FamilyMember.account_id == account.id, FamilyMember.relative_id == for_relative
            )
        )
        if in_family is None:
            raise Forbidden(
                f"resident {for_relative} is not in your family account; add them first"
            )
        card_holder = for_relative
    if level is Level.L2:
        check_pin(session, account, pin)
    if registry_service.get_resident(session, card_holder).status == "deceased":
        raise Conflict(f"resident {card_holder} is recorded as deceased")
    card = cards_service.current_card_of(session, card_holder)
    if card is None or card.state != "active":
        state = "none" if card is None else str(card.state)
        raise Conflict(
            f"the social security card of resident {card_holder} is not active ({state}); "
            "no code can be issued until it is activated, restored or replaced",
            card_state=state,
        )
    node = current_node.current()
    signed = tokens.issue_token(
        node.signing_key(),
        card.card_ref,
        level,
        now=clock.now(),
        ttl_seconds=node.settings.qr_ttl_seconds,
    )
    return IssuedQr(text=signed.text, claims=signed.claims, resident_id=card_holder)


def own_trust_list() -> TrustList:
    """Public keys of this city's e-SSC codes, retired ones included (for terminals)."""
    return current_node.current().own_trust_list()


def verify_online(
    session: Session,
    text: str,
    *,
    accept_cities: Collection[str] | None = None,
    trust_list: TrustList | None = None,
    denied_refs: Collection[str] = frozenset(),
) -> OnlineVerdict:
    """Verify a scanned code against this node (在线验码): the offline checks, then the card's
    current state (own city's cards) and single use. Raises ``TokenRejected``.

    ``accept_cities=None`` accepts this node's city only. Cards of other cities are checked
    against ``denied_refs`` (their deny lists); their state is not known here.
    """
    node = current_node.current()
    now = clock.now()
    claims = tokens.verify_offline(
        text,
        trust_list if trust_list is not None else node.own_trust_list(),
        now=now,
        denied_refs=denied_refs,
        accept_cities=accept_cities if accept_cities is not None else {node.city_code},
    )
    identity: MaskedIdentity | None = None
    if claims.city_code == node.city_code:
        try:
            card = cards_service.get_card_by_ref(session, claims.card_ref)
        except NotFound:
            raise TokenRefused(
                RejectReason.CARD_NOT_ACTIVE, "the code names a card this city does not know"
            ) from None
        if card.state != "active":
            raise TokenRefused(
                RejectReason.CARD_NOT_ACTIVE,
                f"the card behind this code is {card.state}; it cannot be used",
            )
        if claims.level is Level.L1:
            identity = masked_identity(session, card.resident_id)
    if not _consume_nonce(session, claims, now):
        raise TokenRefused(
            RejectReason.REPLAYED, "this code was already used; ask the holder to refresh it"
        )
    return OnlineVerdict(claims=claims, identity=identity)


def masked_identity(session: Session, resident_id: int) -> MaskedIdentity:
    resident = registry_service.get_resident(session, resident_id)
    name = resident.name
    return MaskedIdentity(
        person_ref=resident.person_ref,
        name=name[:1] + "*" * max(len(name) - 1, 1),
        id_number=resident.id_masked,
    )


def _consume_nonce(session: Session, claims: TokenClaims, now: dt.datetime) -> bool:
    """Insert-or-fail on the nonce's primary key: of concurrent scans of one code, one wins
    (PostgreSQL makes the second insert wait for the first to commit, then skip)."""
    values = {
        "nonce": claims.nonce.hex(),
        "card_ref": claims.card_ref,
        "expires_at": claims.expires_at + tokens.DEFAULT_SKEW,
        "used_at": now,
    }
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (
            make_insert(UsedNonce)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(UsedNonce.nonce)
        )
        return session.execute(stmt).first() is not None
    try:
        with session.begin_nested():
            session.execute(insert(UsedNonce).values(**values))
    except IntegrityError:
        return False
    return True


def purge_used_nonces(session: Session) -> int:
    """Forget nonces of codes that have expired anyway; returns how many were removed."""
    result = cast(
        CursorResult[Any],
        session.execute(delete(UsedNonce).where(UsedNonce.expires_at < clock.now())),
    )
    return int(result.rowcount)


def used_nonce_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(UsedNonce)) or 0)


def deny_list_delta(session: Session, since_seq: int, limit: int = 1000) -> list[Any]:
    """Deny-list entries after ``since_seq`` for terminals' offline checks (cards' deny list)."""
    return list(cards_service.deny_list_since(session, since_seq, limit))
