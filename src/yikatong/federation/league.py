"""The league file (联盟成员清单): which cities federate, where they listen, which keys they sign with.

One JSON document, signed by the league operator's key (SM2 or Ed25519)::

    {"format": "yikatong-league/1", "name": "胶东经济圈", "version": 3, "issued_at": "…",
     "operator": {"key_id": "s1a2b3c4d", "algorithm": "SM2", "public_key": "04…"},
     "members": [{"city_code": "370200", "name": "青岛", "endpoint": "https://ykt.qingdao…",
                  "keys": [{"key_id": "…", "algorithm": "SM2", "public_key": "…",
                            "not_before": "…", "retired_at": null}]}],
     "signature": {"key_id": "s1a2b3c4d", "value": "<hex>"}}

The signature covers the canonical JSON (sorted keys, compact, UTF-8) of every field except
``signature``. Key rotation overlaps: a city adds its new key, both verify, then the old one gets
``retired_at`` and keeps verifying what it signed before that instant.

A node trusts the operator key it first saw (recorded in a pin file next to its keys) and refuses a
file signed by another operator key or older than the newest version it has accepted.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.crypto.keyring import Algorithm, SigningKey, TrustList, VerifyKey, key_id_for

FORMAT: Literal["yikatong-league/1"] = "yikatong-league/1"


def canonical_json(data: Any) -> bytes:
    """Sorted-key compact UTF-8 JSON: the one byte form that is signed."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


class LeagueInvalid(InvalidInput):
    """The league file is unsigned, tampered, malformed or not the one this node trusts."""

    slug = "league-invalid"
    title = "League file invalid"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LeagueKey(_Model):
    key_id: str
    algorithm: Algorithm
    public_key: str = Field(pattern=r"^[0-9a-f]+$")
    not_before: dt.datetime
    retired_at: dt.datetime | None = None

    def verify_key(self, city_code: str) -> VerifyKey:
        return VerifyKey(
            city_code=city_code,
            key_id=self.key_id,
            algorithm=self.algorithm,
            public_key=bytes.fromhex(self.public_key),
            not_before=self.not_before,
            retired_at=self.retired_at,
        )


class LeagueMember(_Model):
    city_code: str = Field(pattern=r"^\d{6}$")
    name: str = Field(min_length=1, max_length=32)
    endpoint: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    keys: list[LeagueKey] = Field(min_length=1)


class LeagueOperator(_Model):
    key_id: str
    algorithm: Algorithm
    public_key: str = Field(pattern=r"^[0-9a-f]+$")


class LeagueSignature(_Model):
    key_id: str
    value: str = Field(pattern=r"^[0-9a-f]+$")


class LeagueDocument(_Model):
    format: Literal["yikatong-league/1"] = FORMAT
    name: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    issued_at: dt.datetime
    operator: LeagueOperator
    members: list[LeagueMember] = Field(default_factory=list)
    signature: LeagueSignature | None = None

    @field_validator("members")
    @classmethod
    def _unique(cls, members: list[LeagueMember]) -> list[LeagueMember]:
        cities = [m.city_code for m in members]
        if len(set(cities)) != len(cities):
            raise ValueError("a city code is listed twice")
        key_ids = [k.key_id for m in members for k in m.keys]
        if len(set(key_ids)) != len(key_ids):
            raise ValueError("a key id is listed twice")
        for member in members:
            for key in member.keys:
                expected = key_id_for(key.algorithm, bytes.fromhex(key.public_key))
                if key.key_id != expected:
                    raise ValueError(
                        f"key id {key.key_id} of {member.city_code} does not match its public "
                        f"key (expected {expected})"
                    )
        return members

    def signed_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"


class League:
    """A verified league document: members, endpoints and the trust list of their keys."""

    def __init__(self, document: LeagueDocument) -> None:
        self.document = document

    @property
    def name(self) -> str:
        return self.document.name

    @property
    def version(self) -> int:
        return self.document.version

    @cached_property
    def cities(self) -> frozenset[str]:
        return frozenset(m.city_code for m in self.document.members)

    def member(self, city_code: str) -> LeagueMember | None:
        return next((m for m in self.document.members if m.city_code == city_code), None)

    def endpoint(self, city_code: str) -> str | None:
        member = self.member(city_code)
        return member.endpoint.rstrip("/") if member else None

    @cached_property
    def trust(self) -> TrustList:
        trust = TrustList()
        for member in self.document.members:
            for key in member.keys:
                trust.add(key.verify_key(member.city_code))
        return trust


def parse_document(text: str, *, source: str = "league file") -> LeagueDocument:
    try:
        return LeagueDocument.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        raise LeagueInvalid(f"{source} is not a valid league document: {exc}") from None


def verify_document(document: LeagueDocument) -> League:
    """Check the operator's signature; refuse an unsigned or tampered document."""
    if document.signature is None:
        raise LeagueInvalid(
            "the league file is not signed; sign it with 'ykt federation league sign'"
        )
    operator = document.operator
    public_key = bytes.fromhex(operator.public_key)
    if document.signature.key_id != operator.key_id or operator.key_id != key_id_for(
        operator.algorithm, public_key
    ):
        raise LeagueInvalid("the league file is signed with a key that is not its operator's")
    check = VerifyKey("league", operator.key_id, operator.algorithm, public_key, document.issued_at)
    if not check.verify(document.signed_bytes(), bytes.fromhex(document.signature.value)):
        raise LeagueInvalid(
            "the league file signature does not verify: it was changed after signing; "
            "get a freshly signed copy from the league operator"
        )
    return League(document)


def load_league(path: Path, *, pin_path: Path | None = None) -> League:
    """Load and verify a league file; with ``pin_path``, also hold it to the pinned operator.

    The first accepted file pins its operator key and version (trust on first use, like SSH host
    keys); later files must carry the same operator key and a version at least as new.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LeagueInvalid(f"cannot read the league file {path}: {exc.strerror}") from None
    league = verify_document(parse_document(text, source=str(path)))
    if pin_path is not None:
        _check_pin(league, pin_path)
    return league


def _check_pin(league: League, pin_path: Path) -> None:
    operator = league.document.operator
    if pin_path.exists():
        pin = json.loads(pin_path.read_text(encoding="utf-8"))
        if pin["public_key"] != operator.public_key:
            raise LeagueInvalid(
                f"the league file is signed by operator key {operator.key_id}, but this node "
                f"trusts {pin['key_id']}; remove {pin_path} only if the league operator really "
                "changed its key"
            )
        if league.version < int(pin["version"]):
            raise LeagueInvalid(
                f"the league file is version {league.version}, older than version "
                f"{pin['version']} already accepted; install the current file"
            )
        if league.version == int(pin["version"]):
            return
    pin_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pin_path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "key_id": operator.key_id,
                "public_key": operator.public_key,
                "version": league.version,
                "league": league.name,
            }
        ),
        encoding="utf-8",
    )
    tmp.replace(pin_path)


# --- Operator tools: create, amend and sign a league file -------------------------------------


def new_document(name: str, operator_key: SigningKey) -> LeagueDocument:
    return LeagueDocument(
        name=name,
        version=1,
        issued_at=clock.now(),
        operator=LeagueOperator(
            key_id=operator_key.key_id,
            algorithm=operator_key.algorithm,
            public_key=operator_key.public_key.hex(),
        ),
    )


def with_member(
    document: LeagueDocument, *, city_code: str, name: str, endpoint: str, key: VerifyKey
) -> LeagueDocument:
    """Add a city, or add a key to / update the endpoint of a city already listed (unsigned)."""
    if key.city_code != city_code:
        raise InvalidInput(
            f"the key {key.key_id} belongs to city {key.city_code}, not {city_code}", field="key"
        )
    new_key = LeagueKey(
        key_id=key.key_id,
        algorithm=key.algorithm,
        public_key=key.public_key.hex(),
        not_before=key.not_before,
        retired_at=key.retired_at,
    )
    members = []
    found = False
    for member in document.members:
        if member.city_code == city_code:
            found = True
            keys = [k for k in member.keys if k.key_id != key.key_id] + [new_key]
            member = LeagueMember(city_code=city_code, name=name, endpoint=endpoint, keys=keys)
        members.append(member)
    if not found:
        members.append(
            LeagueMember(city_code=city_code, name=name, endpoint=endpoint, keys=[new_key])
        )
    return _amended(document, members)


def with_key_retired(document: LeagueDocument, key_id: str, at: dt.datetime) -> LeagueDocument:
    """Retire a member key at ``at``: it still verifies what was signed before then."""
    members = []
    found = False
    for member in document.members:
        keys = []
        for key in member.keys:
            if key.key_id == key_id:
                found = True
                if at < key.not_before:
                    raise InvalidInput(
                        f"key {key_id} cannot retire before it started ({key.not_before})",
                        field="at",
                    )
                key = key.model_copy(update={"retired_at": at})
            keys.append(key)
        members.append(member.model_copy(update={"keys": keys}))
    if not found:
        raise InvalidInput(f"no member key has the id {key_id}", field="key_id")
    return _amended(document, members)


def _amended(document: LeagueDocument, members: list[LeagueMember]) -> LeagueDocument:
    try:
        # Re-validate through the model so duplicate cities and key ids are refused.
        return LeagueDocument.model_validate(
            {
                **document.model_dump(exclude={"members", "signature", "version"}),
                # A changed list is a new version: nodes refuse to go back to an older one.
                "version": document.version + (1 if document.signature is not None else 0),
                "members": [m.model_dump() for m in members],
                "signature": None,
            }
        )
    except ValidationError as exc:
        raise InvalidInput(f"the amended league is invalid: {exc}", field="members") from None


def sign_document(document: LeagueDocument, operator_key: SigningKey) -> LeagueDocument:
    """Sign the document with the league operator's key."""
    if operator_key.key_id != document.operator.key_id:
        raise Conflict(
            f"this league is operated by key {document.operator.key_id}; the key given is "
            f"{operator_key.key_id}"
        )
    unsigned = document.model_copy(update={"issued_at": clock.now(), "signature": None})
    value = operator_key.sign(unsigned.signed_bytes()).hex()
    return unsigned.model_copy(
        update={"signature": LeagueSignature(key_id=operator_key.key_id, value=value)}
    )
