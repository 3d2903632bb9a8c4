"""Signing keys of this node, the trust list of other cities' public keys, and data keys.

Key rotation: a node signs with its newest active key; a retired key stays in the trust list with
``retired_at`` and still verifies signatures made before it retired, until ``verify_until``
(retired_at plus the longest lifetime of anything it signed).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from yikatong.crypto import ed25519, sm2
from yikatong.crypto.sm3 import sm3

Algorithm = Literal["SM2", "Ed25519"]
ALGORITHMS: tuple[Algorithm, ...] = ("SM2", "Ed25519")


def key_id_for(algorithm: Algorithm, public_key: bytes) -> str:
    """A short stable key id: algorithm tag and the first 8 hex digits of SM3(public key)."""
    return f"{'s' if algorithm == 'SM2' else 'e'}{sm3(public_key)[:4].hex()}"


@dataclass(frozen=True, slots=True)
class VerifyKey:
    city_code: str
    key_id: str
    algorithm: Algorithm
    public_key: bytes
    not_before: dt.datetime
    retired_at: dt.datetime | None = None
    verify_until: dt.datetime | None = None

    def verify(self, message: bytes, signature: bytes) -> bool:
        if self.algorithm == "SM2":
            return sm2.verify(self.public_key, message, signature)
        return ed25519.verify(self.public_key, message, signature)

    def valid_at(self, at: dt.datetime) -> bool:
        """Was a signature made at ``at`` within this key's signing period?

        Signing instants travel in whole seconds, so the period starts at the second in which
        the key came into service: a code signed 0.3 s after the key was made carries an
        instant up to 0.3 s *before* ``not_before`` and is still the key's own.
        """
        return self.not_before.replace(microsecond=0) <= at and (
            self.retired_at is None or at <= self.retired_at
        )

    def usable_at(self, now: dt.datetime) -> bool:
        """May this key still be used to verify anything now?"""
        return self.verify_until is None or now <= self.verify_until

    def to_json(self) -> dict[str, str | None]:
        return {
            "city_code": self.city_code,
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "public_key": self.public_key.hex(),
            "not_before": self.not_before.isoformat(),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
            "verify_until": self.verify_until.isoformat() if self.verify_until else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, str | None]) -> VerifyKey:
        algorithm = data["algorithm"]
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}")
        return cls(
            city_code=str(data["city_code"]),
            key_id=str(data["key_id"]),
            algorithm=algorithm,
            public_key=bytes.fromhex(str(data["public_key"])),
            not_before=dt.datetime.fromisoformat(str(data["not_before"])),
            retired_at=_opt_time(data.get("retired_at")),
            verify_until=_opt_time(data.get("verify_until")),
        )


def _opt_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class SigningKey:
    city_code: str
    key_id: str
    algorithm: Algorithm
    private_key: bytes
    public_key: bytes
    not_before: dt.datetime
    retired_at: dt.datetime | None = None

    @classmethod
    def generate(cls, city_code: str, algorithm: Algorithm, not_before: dt.datetime) -> SigningKey:
        if algorithm == "SM2":
            private, public = sm2.generate_keypair()
        else:
            private, public = ed25519.generate_keypair()
        key_id = key_id_for(algorithm, public)
        return cls(city_code, key_id, algorithm, private, public, not_before.replace(microsecond=0))

    def sign(self, message: bytes) -> bytes:
        if self.algorithm == "SM2":
            return sm2.sign(self.private_key, self.public_key, message)
        return ed25519.sign(self.private_key, message)

    def verify_key(self, grace: dt.timedelta = dt.timedelta(0)) -> VerifyKey:
        return VerifyKey(
            city_code=self.city_code,
            key_id=self.key_id,
            algorithm=self.algorithm,
            public_key=self.public_key,
            not_before=self.not_before,
            retired_at=self.retired_at,
            verify_until=self.retired_at + grace if self.retired_at else None,
        )


@dataclass
class TrustList:
    """Public keys of every city this node accepts signatures from, by key id."""

    keys: dict[str, VerifyKey] = field(default_factory=dict)

    def add(self, key: VerifyKey) -> None:
        self.keys[key.key_id] = key

    def get(self, key_id: str) -> VerifyKey | None:
        return self.keys.get(key_id)

    def cities(self) -> set[str]:
        return {k.city_code for k in self.keys.values()}

    def to_json(self) -> list[dict[str, str | None]]:
        return [k.to_json() for k in sorted(self.keys.values(), key=lambda k: k.key_id)]

    @classmethod
    def from_json(cls, items: list[dict[str, str | None]]) -> TrustList:
        trust = cls()
        for item in items:
            trust.add(VerifyKey.from_json(item))
        return trust


class KeyStore:
    """This node's private keys on disk (one JSON file per key, mode 0600).

    A production node would keep private keys in a hardware security module (密码机); the file
    store keeps the same interface for the embedded deployment and tests.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key_id: str) -> Path:
        return self.directory / f"{key_id}.json"

    def save(self, key: SigningKey) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = {
            "city_code": key.city_code,
            "key_id": key.key_id,
            "algorithm": key.algorithm,
            "private_key": key.private_key.hex(),
            "public_key": key.public_key.hex(),
            "not_before": key.not_before.isoformat(),
            "retired_at": key.retired_at.isoformat() if key.retired_at else None,
        }
        path = self._path(key.key_id)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle)
        tmp.replace(path)

    def load_all(self) -> list[SigningKey]:
        if not self.directory.exists():
            return []
        keys = []
        for path in sorted(self.directory.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("algorithm") not in ALGORITHMS:
                continue
            keys.append(
                SigningKey(
                    city_code=data["city_code"],
                    key_id=data["key_id"],
                    algorithm=data["algorithm"],
                    private_key=bytes.fromhex(data["private_key"]),
                    public_key=bytes.fromhex(data["public_key"]),
                    not_before=dt.datetime.fromisoformat(data["not_before"]),
                    retired_at=_opt_time(data.get("retired_at")),
                )
            )
        return keys

    def active(self, algorithm: Algorithm) -> SigningKey | None:
        """The newest unretired key of an algorithm."""
        candidates = [
            k for k in self.load_all() if k.algorithm == algorithm and k.retired_at is None
        ]
        return max(candidates, key=lambda k: k.not_before, default=None)

    def ensure_active(self, city_code: str, algorithm: Algorithm, now: dt.datetime) -> SigningKey:
        key = self.active(algorithm)
        if key is None:
            key = SigningKey.generate(city_code, algorithm, now)
            self.save(key)
        return key

    def rotate(self, city_code: str, algorithm: Algorithm, now: dt.datetime) -> SigningKey:
        """Retire the active key now and start a new one."""
        old = self.active(algorithm)
        if old is not None:
            self.save(
                SigningKey(
                    old.city_code,
                    old.key_id,
                    old.algorithm,
                    old.private_key,
                    old.public_key,
                    old.not_before,
                    retired_at=now,
                )
            )
        new = SigningKey.generate(city_code, algorithm, now)
        self.save(new)
        return new


@dataclass(frozen=True, slots=True)
class DataKeys:
    """Node secrets: SM4 key for personal data at rest, a key for search hashes (HMAC-SM3) and a
    key for staff/resident access tokens (HMAC-SM3)."""

    encryption_key: bytes
    search_key: bytes
    token_key: bytes

    @classmethod
    def load_or_create(cls, path: Path) -> DataKeys:
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                bytes.fromhex(data["encryption_key"]),
                bytes.fromhex(data["search_key"]),
                bytes.fromhex(data["token_key"]),
            )
        keys = cls(os.urandom(16), os.urandom(32), os.urandom(32))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "encryption_key": keys.encryption_key.hex(),
                    "search_key": keys.search_key.hex(),
                    "token_key": keys.token_key.hex(),
                },
                handle,
            )
        return keys
