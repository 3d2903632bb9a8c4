"""Use cases of the resident registry (参保人登记).

Personal data (ID number, phone, bank account) is validated here, encrypted with SM4-GCM at rest
(the column name as associated data, so a ciphertext copied into another column does not
decrypt), found through a keyed HMAC-SM3 hash and kept in a masked form for display. Reading the
clear values goes through :func:`reveal`, which writes an audit entry in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

from yikatong import node, parallel
from yikatong.audit import service as audit
from yikatong.core import clock
from yikatong.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from yikatong.core.ids import mask_resident_id, parse_resident_id
from yikatong.crypto.keyring import DataKeys
from yikatong.crypto.sm3 import hmac_sm3
from yikatong.crypto.sm4 import sm4_gcm_decrypt, sm4_gcm_decryptor, sm4_gcm_encrypt
from yikatong.registry.models import Relation, RelationType, Resident, ResidentStatus

__all__ = [
    "REVEALABLE_FIELDS",
    "REVEAL_ROLES",
    "RelationType",
    "Resident",
    "ResidentInput",
    "ResidentStatus",
    "RevealGrant",
    "ValidResident",
    "add_relative",
    "count_residents",
    "enrol_resident",
    "find_by_id_number",
    "get_by_person_ref",
    "get_resident",
    "link_relatives_by_id_number",
    "mask_bank_account",
    "mask_phone",
    "record_death",
    "relation_between",
    "relatives_of",
    "resident_row",
    "reveal",
    "reveal_in_parts",
    "reveal_rows",
    "revealed_rows",
    "search_hash",
    "search_residents",
    "validate_resident",
]

R = TypeVar("R")

# Mainland mobile numbers: 11 digits, 1 then 3–9 (MIIT numbering plan).
_PHONE = re.compile(r"^1[3-9]\d{9}$")
_DISTRICT = re.compile(r"^\d{6}$")
# Bank card and settlement account numbers (UnionPay PAN 12–19 digits).
_BANK_ACCOUNT = re.compile(r"^\d{12,19}$")

NAME_MAX = 64
ADDRESS_MAX = 200
HOUSEHOLD_MAX = 32

# Which clear value lives in which encrypted column (the column name is the associated data).
_ENCRYPTED_COLUMN = {
    "id_number": "id_enc",
    "phone": "phone_enc",
    "bank_account": "bank_account_enc",
}
REVEALABLE_FIELDS: tuple[str, ...] = tuple(_ENCRYPTED_COLUMN)
# Staff roles that may see clear personal data; every such read is audited.
REVEAL_ROLES = frozenset({"clerk", "admin"})
SEARCH_LIMIT_MAX = 500


class ResidentInput(BaseModel):
    """What a clerk, a CSV row or an API client gives to enrol a resident (参保人登记信息)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    id_number: str = Field(description="18-character resident ID number (GB 11643)")
    name: str = Field(description="Full name as on the ID card")
    phone: str | None = Field(default=None, description="11-digit mainland mobile number")
    address: str | None = None
    district_code: str = Field(description="6-digit GB/T 2260 code of the district of residence")
    household_no: str | None = Field(default=None, description="Household register (户号)")
    bank_account: str | None = Field(default=None, description="Account for payouts (发放账户)")
    disabled: bool = False
    veteran: bool = False
    student: bool = False
    low_income: bool = False
    sex: Literal["M", "F"] | None = Field(
        default=None, description="Optional; must match the ID number"
    )
    birth_date: dt.date | None = Field(
        default=None, description="Optional; must match the ID number"
    )


@dataclass(frozen=True, slots=True)
class ValidResident:
    """A resident input that passed every rule, normalised, with what the ID number encodes."""

    id_number: str
    name: str
    sex: str
    birth_date: dt.date
    phone: str | None
    address: str | None
    district_code: str
    household_no: str | None
    bank_account: str | None
    disabled: bool
    veteran: bool
    student: bool
    low_income: bool


def _optional(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def validate_resident(data: ResidentInput) -> ValidResident:
    """Check every rule of an enrolment without touching the database; the first failure raises
    :class:`InvalidInput` naming the field."""
    rid = parse_resident_id(data.id_number, field="id_number")
    if data.sex is not None and data.sex != rid.sex:
        raise InvalidInput(
            f"sex {data.sex} does not match the ID number, which encodes {rid.sex}; "
            "check both against the ID card",
            field="sex",
        )
    if data.birth_date is not None and data.birth_date != rid.birth_date:
        raise InvalidInput(
            f"birth date {data.birth_date.isoformat()} does not match the ID number, which "
            f"encodes {rid.birth_date.isoformat()}; check both against the ID card",
            field="birth_date",
        )
    name = data.name.strip()
    if not name:
        raise InvalidInput("name must not be empty", field="name")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"name must have at most {NAME_MAX} characters", field="name")
    district = data.district_code.strip()
    if not _DISTRICT.match(district):
        raise InvalidInput(
            f"district code must be 6 digits (GB/T 2260), got {district!r}", field="district_code"
        )
    phone = _optional(data.phone)
    if phone is not None:
        phone = phone.replace(" ", "").replace("-", "")
        if not _PHONE.match(phone):
            raise InvalidInput(
                "phone must be an 11-digit mainland mobile number starting with 13–19",
                field="phone",
            )
    bank_account = _optional(data.bank_account)
    if bank_account is not None:
        bank_account = bank_account.replace(" ", "")
        if not _BANK_ACCOUNT.match(bank_account):
            raise InvalidInput("bank account must be 12 to 19 digits", field="bank_account")
    address = _optional(data.address)
    if address is not None and len(address) > ADDRESS_MAX:
        raise InvalidInput(f"address must have at most {ADDRESS_MAX} characters", field="address")
    household_no = _optional(data.household_no)
    if household_no is not None and len(household_no) > HOUSEHOLD_MAX:
        raise InvalidInput(
            f"household number must have at most {HOUSEHOLD_MAX} characters", field="household_no"
        )
    return ValidResident(
        id_number=rid.number,
        name=name,
        sex=rid.sex,
        birth_date=rid.birth_date,
        phone=phone,
        address=address,
        district_code=district,
        household_no=household_no,
        bank_account=bank_account,
        disabled=data.disabled,
        veteran=data.veteran,
        student=data.student,
        low_income=data.low_income,
    )


def mask_phone(phone: str) -> str:
    """``138****1234``."""
    return phone[:3] + "****" + phone[-4:]


def mask_bank_account(account: str) -> str:
    """Only the last four digits: ``****5678``."""
    return "****" + account[-4:]


def _keys() -> DataKeys:
    return node.current().data_keys


def search_hash(value: str, keys: DataKeys | None = None) -> str:
    """Keyed hash (HMAC-SM3, hex) under which a personal value can be found without decrypting."""
    return hmac_sm3((keys or _keys()).search_key, value.encode()).hex()


def _encrypt(keys: DataKeys, column: str, value: str) -> bytes:
    return sm4_gcm_encrypt(keys.encryption_key, value.encode(), column.encode())


def resident_row(
    valid: ValidResident, *, actor: str, keys: DataKeys | None = None, at: dt.datetime | None = None
) -> dict[str, Any]:
    """The column values of a new resident row: encrypted, hashed and masked personal data.

    The bulk importer inserts these dicts directly; :func:`enrol_resident` builds one object.
    """
    keys = keys or _keys()
    row: dict[str, Any] = {
        "person_ref": secrets.token_hex(8),
        "id_hash": search_hash(valid.id_number, keys),
        "id_enc": _encrypt(keys, "id_enc", valid.id_number),
        "id_masked": mask_resident_id(valid.id_number),
        "name": valid.name,
        "sex": valid.sex,
        "birth_date": valid.birth_date,
        "phone_hash": None,
        "phone_enc": None,
        "phone_masked": None,
        "bank_account_enc": None,
        "bank_account_masked": None,
        "address": valid.address,
        "district_code": valid.district_code,
        "household_no": valid.household_no,
        "status": ResidentStatus.ACTIVE,
        "died_on": None,
        "disabled": valid.disabled,
        "veteran": valid.veteran,
        "student": valid.student,
        "low_income": valid.low_income,
        "created_at": at or clock.now(),
        "created_by": actor[:64],
        "death_recorded_by": None,
    }
    if valid.phone is not None:
        row["phone_hash"] = search_hash(valid.phone, keys)
        row["phone_enc"] = _encrypt(keys, "phone_enc", valid.phone)
        row["phone_masked"] = mask_phone(valid.phone)
    if valid.bank_account is not None:
        row["bank_account_enc"] = _encrypt(keys, "bank_account_enc", valid.bank_account)
        row["bank_account_masked"] = mask_bank_account(valid.bank_account)
    return row


def enrol_resident(session: Session, data: ResidentInput, *, actor: str) -> Resident:
    """Enrol a resident (参保人登记). Duplicate ID number → :class:`Conflict`."""
    valid = validate_resident(data)
    if find_by_id_number(session, valid.id_number) is not None:
        raise Conflict(
            f"a resident with ID number {mask_resident_id(valid.id_number)} is already "
            "enrolled; look them up instead of enrolling again"
        )
    resident = Resident(**resident_row(valid, actor=actor))
    session.add(resident)
    session.flush()
    return resident


def get_resident(session: Session, resident_id: int) -> Resident:
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound(f"no resident with id {resident_id}; search by name or ID number")
    return resident


def get_by_person_ref(session: Session, person_ref: str) -> Resident:
    resident = session.scalar(select(Resident).where(Resident.person_ref == person_ref))
    if resident is None:
        raise NotFound(f"no resident with reference {person_ref}")
    return resident


def find_by_id_number(session: Session, id_number: str) -> Resident | None:
    """The resident holding an ID number, found through its keyed hash (never decrypted)."""
    digest = search_hash(id_number.strip().upper())
    return session.scalar(select(Resident).where(Resident.id_hash == digest))


def search_residents(
    session: Session,
    *,
    name: str | None = None,
    id_number: str | None = None,
    district_code: str | None = None,
    limit: int = 50,
) -> list[Resident]:
    """Staff search: name prefix, exact ID number (by hash), district; newest first."""
    if not 1 <= limit <= SEARCH_LIMIT_MAX:
        raise InvalidInput(f"limit must be between 1 and {SEARCH_LIMIT_MAX}", field="limit")
    query = select(Resident).order_by(Resident.id.desc()).limit(limit)
    if name is not None and name.strip():
        escaped = name.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Resident.name.like(escaped + "%", escape="\\"))
    if id_number is not None and id_number.strip():
        query = query.where(Resident.id_hash == search_hash(id_number.strip().upper()))
    if district_code is not None and district_code.strip():
        if not _DISTRICT.match(district_code.strip()):
            raise InvalidInput("district code must be 6 digits", field="district_code")
        query = query.where(Resident.district_code == district_code.strip())
    return list(session.scalars(query))


def count_residents(session: Session, *, status: ResidentStatus | None = None) -> int:
    """How many residents the registry holds (optionally only those with a given status)."""
    query = select(func.count()).select_from(Resident)
    if status is not None:
        query = query.where(Resident.status == status)
    return int(session.scalar(query) or 0)


# A relation in which the relative must be older than the resident, and the reverse.
_RELATIVE_OLDER = frozenset({RelationType.PARENT, RelationType.GRANDPARENT})
_RELATIVE_YOUNGER = frozenset({RelationType.CHILD, RelationType.GRANDCHILD})


def _check_birth_order(
    relation: RelationType, resident_born: dt.date, relative_born: dt.date
) -> None:
    if relation in _RELATIVE_OLDER and not relative_born < resident_born:
        raise InvalidInput(
            f"a {relation} must be born before the resident "
            f"({relative_born.isoformat()} is not before {resident_born.isoformat()})",
            field="relation",
        )
    if relation in _RELATIVE_YOUNGER and not relative_born > resident_born:
        raise InvalidInput(
            f"a {relation} must be born after the resident "
            f"({relative_born.isoformat()} is not after {resident_born.isoformat()})",
            field="relation",
        )


def link_relatives_by_id_number(
    session: Session, links: Sequence[tuple[str, str, RelationType]], *, actor: str
) -> int:
    """Bulk form of :func:`add_relative` for loaders (household registers, the demo): each link
    is (resident ID number, relative ID number, what the relative is to the resident), stored
    with its inverse; pairs already related are left as they are. Returns links added."""
    if not links:
        return 0
    numbers = {number.strip().upper() for a, b, _ in links for number in (a, b)}
    by_hash = {search_hash(number): number for number in numbers}
    found = {
        by_hash[row.id_hash]: (row.id, row.birth_date)
        for row in session.execute(
            select(Resident.id, Resident.id_hash, Resident.birth_date).where(
                Resident.id_hash.in_(list(by_hash))
            )
        )
    }
    missing = sorted(mask_resident_id(n) for n in numbers - found.keys())
    if missing:
        raise NotFound(f"no resident with ID number {', '.join(missing[:5])}")
    ids = [found[n][0] for n in numbers]
    already = {
        (row.resident_id, row.relative_id)
        for row in session.execute(
            select(Relation.resident_id, Relation.relative_id).where(Relation.resident_id.in_(ids))
        )
    }
    at, rows = clock.now(), []
    for resident_number, relative_number, relation in links:
        (resident_id, resident_born) = found[resident_number.strip().upper()]
        (relative_id, relative_born) = found[relative_number.strip().upper()]
        if resident_id == relative_id:
            raise InvalidInput("a resident cannot be their own relative", field="relative_id")
        if (resident_id, relative_id) in already:
            continue
        _check_birth_order(RelationType(relation), resident_born, relative_born)
        already |= {(resident_id, relative_id), (relative_id, resident_id)}
        for a, b, kind in (
            (resident_id, relative_id, RelationType(relation)),
            (relative_id, resident_id, RelationType(relation).inverse),
        ):
            rows.append(
                {"resident_id": a, "relative_id": b, "relation": kind, "created_at": at,
                 "created_by": actor[:64]}
            )  # fmt: skip
    if rows:
        session.execute(insert(Relation), rows)
    return len(rows) // 2


def add_relative(
    session: Session, resident_id: int, relative_id: int, relation: RelationType, *, actor: str
) -> None:
    """Record a family link and its inverse in one transaction (``relation`` says what the
    relative is to the resident: PARENT means the relative is the resident's parent)."""
    relation = RelationType(relation)
    if resident_id == relative_id:
        raise InvalidInput("a resident cannot be their own relative", field="relative_id")
    resident = get_resident(session, resident_id)
    relative = get_resident(session, relative_id)
    existing = relation_between(session, resident_id, relative_id)
    if existing is not None:
        raise Conflict(
            f"residents {resident_id} and {relative_id} are already related ({existing}); "
            "a pair can hold one relation"
        )
    _check_birth_order(relation, resident.birth_date, relative.birth_date)
    at = clock.now()
    session.add_all(
        [
            Relation(
                resident_id=resident_id,
                relative_id=relative_id,
                relation=relation,
                created_at=at,
                created_by=actor[:64],
            ),
            Relation(
                resident_id=relative_id,
                relative_id=resident_id,
                relation=relation.inverse,
                created_at=at,
                created_by=actor[:64],
            ),
        ]
    )
    session.flush()


def relatives_of(session: Session, resident_id: int) -> list[tuple[Resident, RelationType]]:
    """Every relative of a resident with what they are to the resident, by relative id."""
    get_resident(session, resident_id)
    relative = aliased(Resident)
    rows = session.execute(
        select(relative, Relation.relation)
        .join(Relation, Relation.relative_id == relative.id)
        .where(Relation.resident_id == resident_id)
        .order_by(relative.id)
    )
    return [(row[0], row[1]) for row in rows]


def relation_between(session: Session, resident_id: int, relative_id: int) -> RelationType | None:
    """What ``relative_id`` is to ``resident_id``, or None when unrelated."""
    return session.scalar(
        select(Relation.relation).where(
            Relation.resident_id == resident_id, Relation.relative_id == relative_id
        )
    )


def record_death(session: Session, resident_id: int, died_on: dt.date, *, actor: str) -> Resident:
    """Record a death (死亡登记): the resident becomes deceased; benefits read this status."""
    resident = get_resident(session, resident_id)
    if resident.status == ResidentStatus.DECEASED:
        raise Conflict(
            f"resident {resident_id} is already recorded as deceased on {resident.died_on}"
        )
    if died_on > clock.today():
        raise InvalidInput("date of death cannot be in the future", field="died_on")
    if died_on < resident.birth_date:
        raise InvalidInput("date of death cannot be before the birth date", field="died_on")
    resident.status = ResidentStatus.DECEASED
    resident.died_on = died_on
    resident.death_recorded_by = actor[:64]
    session.flush()
    return resident


def _check_reveal(role: str, fields: Sequence[str]) -> list[str]:
    if role not in REVEAL_ROLES:
        raise Forbidden(
            f"role {role} may not see unmasked personal data; ask a clerk or an administrator"
        )
    wanted = list(dict.fromkeys(fields))
    unknown = [name for name in wanted if name not in _ENCRYPTED_COLUMN]
    if unknown or not wanted:
        raise InvalidInput(
            f"fields must be among {', '.join(REVEALABLE_FIELDS)}; got {', '.join(unknown) or 'none'}",
            field="fields",
        )
    return wanted


def _decrypt_fields(resident: Resident, wanted: Sequence[str], key: bytes) -> dict[str, str]:
    return _decrypt_blobs([getattr(resident, _ENCRYPTED_COLUMN[n]) for n in wanted], wanted, key)


def _decrypt_blobs(
    blobs: Sequence[bytes | None], wanted: Sequence[str], key: bytes
) -> dict[str, str]:
    """The fields ``wanted`` decrypted from their stored ciphertexts (in the same order)."""
    revealed: dict[str, str] = {}
    for name, blob in zip(wanted, blobs, strict=True):
        if blob is not None:
            column = _ENCRYPTED_COLUMN[name]
            revealed[name] = sm4_gcm_decrypt(key, blob, column.encode()).decode()
    return revealed


def reveal(
    session: Session,
    resident_id: int,
    *,
    actor: str,
    role: str,
    reason: str,
    fields: Sequence[str] = REVEALABLE_FIELDS,
) -> dict[str, str]:
    """Clear values of personal data for a staff member, audited in the same transaction.

    Returns the requested fields that hold a value (a resident without a phone has no "phone").
    """
    wanted = _check_reveal(role, fields)
    resident = get_resident(session, resident_id)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="reveal",
        subject_type="resident",
        subject_id=str(resident.id),
        reason=reason,
        fields=wanted,
    )
    return _decrypt_fields(resident, wanted, _keys().encryption_key)


@dataclass(frozen=True, slots=True)
class RevealGrant:
    """What a reveal along a query was checked and audited for: the fields to decrypt and the
    plain resident columns to add. ``reveal_in_parts`` hands one to each of its parts, which read
    their rows with ``revealed_rows``; nothing else makes one."""

    fields: tuple[str, ...]
    plain: tuple[str, ...]


def _grant(role: str, fields: Sequence[str], plain: Sequence[str]) -> RevealGrant:
    wanted = _check_reveal(role, fields)
    unknown = [name for name in plain if name not in Resident.__table__.c]
    if unknown:
        raise InvalidInput(f"residents have no column {unknown[0]!r}")
    return RevealGrant(tuple(wanted), tuple(plain))


def reveal_rows(
    session: Session,
    rows: Select[*tuple[Any, ...]],
    *,
    actor: str,
    role: str,
    reason: str,
    fields: Sequence[str] = REVEALABLE_FIELDS,
    plain: Sequence[str] = (),
    chunk: int = 10_000,
) -> Iterator[tuple[Any, ...]]:
    """``reveal`` along a query whose first column is a resident id (a bank file's lines): each
    row of ``rows`` comes back as a plain tuple, extended by the resident's columns named in
    ``plain`` (e.g. ``name``, from the same join, so the caller need not join the residents a
    second time) and then by the revealed ``fields`` in their order (``None`` where the
    resident has no value).

    The role is checked and every resident the query selects gets one audit entry, written by
    one ``INSERT … SELECT``, before this returns. The rows then stream in the query's order and
    are decrypted as they are read, so a million-line bank file never holds every account in
    memory. A row whose resident does not exist raises NotFound; the caller's transaction then
    rolls back, its audit entries with it.
    """
    grant = _grant(role, fields, plain)
    _audit_rows(session, rows, grant, actor=actor, role=role, reason=reason)
    return revealed_rows(session, rows, grant, chunk=chunk)


def reveal_in_parts(
    session: Session,
    rows: Select[*tuple[Any, ...]],
    *,
    actor: str,
    role: str,
    reason: str,
    part: Callable[..., R],
    arguments: Sequence[tuple[Any, ...]],
    workers: int,
    fields: Sequence[str] = REVEALABLE_FIELDS,
    plain: Sequence[str] = (),
    accept: Callable[[list[R]], bool] = lambda results: True,
) -> list[R] | None:
    """``reveal_rows`` with the reading split over worker processes (``yikatong.parallel``):
    ``part(session, grant, *args)`` runs in a worker for each of ``arguments`` and reads its
    share of ``rows`` (the same query narrowed, e.g. to a range of ids) with
    ``revealed_rows(session, its_rows, grant)``; its results come back in order.

    The same checks as ``reveal_rows``, and the same audit: every resident ``rows`` selects,
    written by this transaction while the workers read. Results that ``accept`` refuses (parts
    that do not add up to what this transaction sees) come back as ``None``, their audit entries
    taken back. A worker's error is raised here, its audit entries taken back too.
    """
    grant = _grant(role, fields, plain)
    with_grant = [(grant, *args) for args in arguments]
    with (
        parallel.run_parts(session, part, with_grant, workers=workers) as parts,
        session.begin_nested() as audited,
    ):
        _audit_rows(session, rows, grant, actor=actor, role=role, reason=reason)
        results = parts.results()
        if not accept(results):
            audited.rollback()
            return None
    return results


def _audit_rows(
    session: Session,
    rows: Select[*tuple[Any, ...]],
    grant: RevealGrant,
    *,
    actor: str,
    role: str,
    reason: str,
) -> None:
    audit.record_selected(
        session,
        rows,
        actor=actor,
        role=role,
        action="reveal",
        subject_type="resident",
        reason=reason,
        fields=list(grant.fields),
    )


def revealed_rows(
    session: Session,
    rows: Select[*tuple[Any, ...]],
    grant: RevealGrant,
    *,
    chunk: int = 10_000,
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``reveal_rows``, read and decrypted under a grant already audited for them
    (a part of ``reveal_in_parts``): ``rows`` must select no resident the grant's query did not.
    """
    person = aliased(Resident)
    width = len(rows.selected_columns) + len(grant.plain)
    resident_id = rows.selected_columns[0]
    with_person = rows.add_columns(
        *(getattr(person, name) for name in grant.plain),
        person.id,
        *(getattr(person, _ENCRYPTED_COLUMN[name]) for name in grant.fields),
    )
    # Joined from the first column's own table, which the query may join to other residents.
    left = getattr(resident_id, "table", None)
    joined = (
        with_person.outerjoin(person, person.id == resident_id)
        if left is None
        else with_person.outerjoin_from(left, person, person.id == resident_id)
    )
    key = _keys().encryption_key
    # One decryptor per field, its key and column checked once, not once per line.
    decryptors = [sm4_gcm_decryptor(key, _ENCRYPTED_COLUMN[name].encode()) for name in grant.fields]

    def decrypted() -> Iterator[tuple[Any, ...]]:
        # A Core result of plain rows, read a chunk at a time: no ORM loading per line.
        result = session.connection().execute(joined, execution_options={"yield_per": chunk})
        for rows_read in result.partitions():
            for row in rows_read:
                if row[width] is None:
                    raise NotFound(f"no resident with id {row[0]}")
                yield (
                    *row[:width],
                    *[
                        None if blob is None else decrypt(blob).decode()
                        for decrypt, blob in zip(decryptors, row[width + 1 :], strict=True)
                    ],
                )

    return decrypted()


def reveal_many(
    session: Session,
    resident_ids: Sequence[int],
    *,
    actor: str,
    role: str,
    reason: str,
    fields: Sequence[str] = REVEALABLE_FIELDS,
) -> dict[int, dict[str, str]]:
    """``reveal`` for many residents at once (a bank file): the same checks, one audit entry per
    resident written in one statement, the residents read in a few queries. An unknown id is
    refused as a whole, before anything is written."""
    wanted = _check_reveal(role, fields)
    ids = list(dict.fromkeys(resident_ids))
    # Only the ciphertexts asked for, as plain rows: a bank file reveals millions.
    columns = [Resident.__table__.c[_ENCRYPTED_COLUMN[name]] for name in wanted]
    people: dict[int, Sequence[bytes | None]] = {}
    for first in range(0, len(ids), 900):
        for row in session.connection().execute(
            select(Resident.__table__.c.id, *columns).where(
                Resident.__table__.c.id.in_(ids[first : first + 900])
            )
        ):
            people[int(row[0])] = tuple(row[1:])
    missing = [i for i in ids if i not in people]
    if missing:
        raise NotFound(f"no resident with id {missing[0]} ({len(missing)} unknown)")
    audit.record_many(
        session,
        [str(i) for i in ids],
        actor=actor,
        role=role,
        action="reveal",
        subject_type="resident",
        reason=reason,
        fields=wanted,
    )
    key = _keys().encryption_key
    return {i: _decrypt_blobs(people[i], wanted, key) for i in ids}
