"""The dispatcher (投递): signs outbox rows and POSTs them to the receiving city's inbox.

Rules it keeps:

* No remote call inside a database transaction: rows are read in one short transaction, sent with
  no transaction open, and the outcome written in another.
* Order per (receiver, stream): only the lowest undelivered sequence number of a stream is ever
  sent; seq n+1 leaves after n was acknowledged (any 2xx).
* A failure (network error, timeout, non-2xx) schedules a retry with exponential backoff and
  jitter (``next_attempt_at``, ``attempts``, ``last_error``); the stream waits, other streams go on.
* At-least-once: a crash between the POST and the acknowledgement write resends the message; the
  receiver deduplicates by message id. Two dispatchers on one database are therefore harmless too.

Runs as ``ykt federation dispatch [--once]`` or as a thread inside ``ykt serve`` (:func:`lifespan`,
started only when the node has a league file).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from yikatong.core import clock
from yikatong.core.errors import DomainError
from yikatong.core.outbox import OutboxMessage
from yikatong.crypto.keyring import SigningKey
from yikatong.federation import service
from yikatong.federation.envelope import seal
from yikatong.federation.league import League
from yikatong.node import Node

log = logging.getLogger("yikatong.federation.dispatcher")

INBOX_PATH = "/api/v1/federation/inbox"


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff after the n-th failed attempt: base·2ⁿ⁻¹ capped, times a jitter in [½, 1]."""

    base: dt.timedelta = dt.timedelta(seconds=0.5)
    cap: dt.timedelta = dt.timedelta(minutes=5)
    timeout: float = 10.0

    def delay(self, attempts: int, rng: random.Random) -> dt.timedelta:
        exponent = min(max(attempts - 1, 0), 30)
        raw = min(self.cap, self.base * (2**exponent))
        # Jitter spreads the retries of many streams after a peer comes back.
        factor: float = rng.uniform(0.5, 1.0)
        return dt.timedelta(seconds=raw.total_seconds() * factor)


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Pending:
    id: int
    message_id: str
    receiver: str
    stream: str
    seq: int
    payload_type: str
    body: dict[str, Any]
    attempts: int


def _load(row: OutboxMessage) -> _Pending:
    return _Pending(
        row.id,
        row.message_id,
        row.receiver,
        row.stream,
        row.seq,
        row.payload_type,
        row.body,
        row.attempts,
    )


def _due_heads(node: Node, now: dt.datetime) -> list[_Pending]:
    """The first undelivered message of every stream, if its retry time has come."""
    with node.transaction() as session:
        heads = (
            select(
                OutboxMessage.receiver,
                OutboxMessage.stream,
                func.min(OutboxMessage.seq).label("seq"),
            )
            .where(OutboxMessage.delivered_at.is_(None))
            .group_by(OutboxMessage.receiver, OutboxMessage.stream)
            .subquery()
        )
        rows = session.scalars(
            select(OutboxMessage)
            .join(
                heads,
                (OutboxMessage.receiver == heads.c.receiver)
                & (OutboxMessage.stream == heads.c.stream)
                & (OutboxMessage.seq == heads.c.seq),
            )
            .where(OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
        )
        return [_load(row) for row in rows]


def _next_in_stream(node: Node, previous: _Pending) -> _Pending | None:
    with node.transaction() as session:
        row = session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.receiver == previous.receiver,
                OutboxMessage.stream == previous.stream,
                OutboxMessage.seq > previous.seq,
                OutboxMessage.delivered_at.is_(None),
            )
            .order_by(OutboxMessage.seq)
            .limit(1)
        ).one_or_none()
        return _load(row) if row is not None else None


def _mark_delivered(node: Node, pending: _Pending) -> None:
    with node.transaction() as session:
        row = session.get(OutboxMessage, pending.id)
        assert row is not None
        if row.delivered_at is None:
            row.delivered_at = clock.now()
            row.attempts += 1
            row.last_error = None


def _mark_failed(
    node: Node, pending: _Pending, error: str, policy: RetryPolicy, rng: random.Random
) -> None:
    with node.transaction() as session:
        row = session.get(OutboxMessage, pending.id)
        assert row is not None
        if row.delivered_at is not None:
            return
        row.attempts += 1
        row.last_error = error[:2000]
        row.next_attempt_at = clock.now() + policy.delay(row.attempts, rng)


def _post(
    client: httpx.Client,
    league: League,
    key: SigningKey,
    sender: str,
    pending: _Pending,
    timeout: float,
) -> str | None:
    """Sign and send one message; ``None`` when acknowledged, else the error to record."""
    endpoint = league.endpoint(pending.receiver)
    if endpoint is None:
        return f"city {pending.receiver} is not in the league {league.name}"
    envelope = seal(
        message_id=pending.message_id,
        sender=sender,
        receiver=pending.receiver,
        stream=pending.stream,
        seq=pending.seq,
        payload_type=pending.payload_type,
        body=pending.body,
        key=key,
        created_at=clock.now(),
    )
    try:
        response = client.post(endpoint + INBOX_PATH, json=envelope.to_wire(), timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.is_success:
        return None
    detail = response.text[:500]
    with contextlib.suppress(ValueError):
        problem = response.json()
        detail = f"{problem.get('reason', '')} {problem.get('detail', '')}".strip()
    return f"HTTP {response.status_code}: {detail}"


def dispatch_once(
    node: Node,
    client: httpx.Client,
    *,
    policy: RetryPolicy | None = None,
    rng: random.Random | None = None,
    max_per_stream: int = 500,
) -> DispatchReport:
    """One pass: for every due stream, send messages in order until one fails or none is left."""
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    report = DispatchReport()
    heads = _due_heads(node, clock.now())
    if not heads:
        return report
    league = service.league_of(node)
    key = node.signing_key()
    for head in heads:
        pending: _Pending | None = head
        sent_here = 0
        while pending is not None and sent_here < max_per_stream:
            error = _post(client, league, key, node.city_code, pending, policy.timeout)
            if error is not None:
                _mark_failed(node, pending, error, policy, rng)
                report.failed += 1
                report.errors.append(
                    f"{pending.receiver}/{pending.stream} seq {pending.seq}: {error}"
                )
                log.warning(
                    "delivery to %s/%s seq %d failed (attempt %d): %s",
                    pending.receiver,
                    pending.stream,
                    pending.seq,
                    pending.attempts + 1,
                    error,
                )
                break
            _mark_delivered(node, pending)
            report.sent += 1
            sent_here += 1
            pending = _next_in_stream(node, pending)
    return report


class DispatcherThread(threading.Thread):
    """Runs :func:`dispatch_once` every ``interval`` seconds until stopped."""

    def __init__(
        self, node: Node, *, interval: float = 0.5, policy: RetryPolicy | None = None
    ) -> None:
        super().__init__(name="ykt-federation-dispatcher", daemon=True)
        self.node = node
        self.interval = interval
        self.policy = policy or RetryPolicy()
        self._stop_event = threading.Event()

    def run(self) -> None:
        with httpx.Client() as client:
            while not self._stop_event.is_set():
                try:
                    report = dispatch_once(self.node, client, policy=self.policy)
                except Exception:  # keep the loop alive; the next pass retries
                    log.exception("federation dispatch pass failed")
                    report = DispatchReport()
                try:
                    self._keep_deny_lists_fresh()
                except Exception:  # never let a deny-list fetch stop delivery
                    log.exception("federation deny-list fetch failed")
                if not report.sent:
                    self._stop_event.wait(self.interval)

    _next_deny_sync: float = 0.0
    _deny_sync_off: bool = False

    def _keep_deny_lists_fresh(self) -> None:
        """Every ``deny_list.sync_every_minutes`` (acceptance policy), fetch the other cities'
        deny lists, so that stand-in and offline acceptance work from a fresh copy."""
        if self._deny_sync_off or time.monotonic() < self._next_deny_sync:
            return
        from yikatong.federation import acceptance

        try:
            rule = acceptance.acceptance_policy(self.node).deny_list
        except DomainError as exc:
            self._deny_sync_off = True
            log.warning("deny lists will not be fetched automatically: %s", exc.detail)
            return
        failed = False
        for city, outcome in acceptance.sync_all_deny_lists(self.node).items():
            if isinstance(outcome, str):
                # Stand-in and offline acceptance refuse once the copy is too old.
                failed = True
                log.warning("deny list of %s not fetched: %s", city, outcome)
        wait = rule.retry_after_failure_seconds if failed else rule.sync_every_minutes * 60
        self._next_deny_sync = time.monotonic() + wait

    def stop(self, timeout: float = 15.0) -> None:
        self._stop_event.set()
        self.join(timeout)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the dispatcher beside the API while the app lives (only for a node in a league)."""
    node: Node = app.state.node
    if node.settings.league_file is None:
        yield
        return
    worker = DispatcherThread(node)
    worker.start()
    log.info("federation dispatcher started for %s", node.city_code)
    try:
        yield
    finally:
        worker.stop()
