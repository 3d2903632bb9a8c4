"""The running node: one city's settings, database, keys. Set once at start-up.

The API, the CLI and tests open a node; domain services reach its keys through ``current()``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from yikatong.core import calendar, clock, db
from yikatong.core.settings import Settings
from yikatong.crypto.keyring import Algorithm, DataKeys, KeyStore, SigningKey, TrustList


@dataclass
class Node:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    data_keys: DataKeys
    keystore: KeyStore

    @classmethod
    def open(cls, settings: Settings, *, read_only: bool = False) -> Node:
        """Open the node; ``read_only`` for a worker process (``yikatong.parallel``)."""
        engine = db.make_engine(
            settings.effective_database_url,
            sqlite_synchronous=settings.sqlite_synchronous,
            read_only=read_only,
        )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Holiday notices the operator imported for years the calendar package lacks.
        calendar.load_notices(settings.calendar_dir)
        return cls(
            settings=settings,
            engine=engine,
            sessions=db.make_sessionmaker(engine),
            data_keys=DataKeys.load_or_create(settings.keys_dir / "data-keys.json"),
            keystore=KeyStore(settings.keys_dir / "signing"),
        )

    @property
    def city_code(self) -> str:
        return self.settings.city_code

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with db.transaction(self.sessions) as session:
            yield session

    def signing_key(self) -> SigningKey:
        """This city's active signing key for the configured algorithm (created on first use)."""
        algorithm: Algorithm = (
            "SM2" if self.settings.signature_algorithm.upper() == "SM2" else "Ed25519"
        )
        return self.keystore.ensure_active(self.city_code, algorithm, clock.now())

    def own_trust_list(self) -> TrustList:
        """Public keys of this node's own keys, retired ones included."""
        trust = TrustList()
        # A retired key verifies until the last token it signed has expired.
        grace = dt.timedelta(seconds=self.settings.qr_ttl_seconds)
        for key in self.keystore.load_all():
            trust.add(key.verify_key(grace))
        return trust

    def close(self) -> None:
        self.engine.dispose()


_current: Node | None = None


def set_current(node: Node | None) -> None:
    global _current
    _current = node


def open_from_environment() -> Node:
    """Open this node from ``YKT_*`` settings and make it current (one CLI command, one server)."""
    node = Node.open(Settings())
    set_current(node)
    return node


def current() -> Node:
    if _current is None:
        raise RuntimeError("no node is open: call Node.open() and set_current() at start-up")
    return _current
