"""Signed requests answered at once (请求/应答): routed card authorisation, deny-list fetches.

The outbox and inbox carry what must arrive eventually and in order; a terminal waiting for an
answer needs one now, or a stand-in decision. A request is a signed envelope like any other
(stream ``rpc``, sequence 1: requests are independent and unordered) POSTed to the peer's
``/api/v1/federation/rpc``; the answer is an envelope the peer signs, whose body names the request
(``request_id``) and whose payload type is the request's with ``.response`` appended.

Both directions are checked as the inbox checks (tampered, expired, misrouted, unknown sender…).
The responder keeps each request with its signed answer: the same request again (a retry after a
lost answer) gets the same answer and changes nothing; a different request under a used message
id is refused as ``replayed``.

Never call :func:`call` inside a database transaction: it waits on another city.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from yikatong.core import clock
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.federation.envelope import Envelope, EnvelopeRejected, rejected, seal, verify
from yikatong.federation.league import canonical_json
from yikatong.federation.models import RpcRequest
from yikatong.federation.service import league_of, record_rejection
from yikatong.node import Node

RPC_PATH = "/api/v1/federation/rpc"
RPC_STREAM = "rpc"
RESPONSE_SUFFIX = ".response"

Responder = Callable[[Session, Envelope], dict[str, Any]]
_responders: dict[str, Responder] = {}


class PeerUnreachable(DomainError):
    """The other city did not answer in time (down, timing out, or failing with 5xx)."""

    status = 504
    slug = "peer-unreachable"
    title = "City unreachable"
    exit_code = 9


class RemoteRefused(DomainError):
    """The other city answered the request with an error (its problem reason is kept)."""

    status = 502
    slug = "remote-refused"
    title = "Request refused by the other city"
    exit_code = 9


@functools.cache
def _shared_client() -> httpx.Client:
    """One connection pool per process: a terminal's request reuses the open connection to the
    issuing city instead of paying a TCP handshake each time (httpx clients are thread-safe)."""
    return httpx.Client(limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))


def register_responder(payload_type: str, responder: Responder) -> None:
    """Answer requests of ``payload_type`` with ``responder(session, envelope) -> body``."""
    existing = _responders.get(payload_type)
    if existing is not None and existing is not responder:
        raise ValueError(f"payload type {payload_type!r} already has a responder")
    _responders[payload_type] = responder


def _digest(wire: dict[str, Any]) -> str:
    content = {k: v for k, v in wire.items() if k not in ("signature", "created_at", "key_id")}
    return hashlib.sha256(canonical_json(content)).hexdigest()


def answer(node: Node, data: Any, *, remote_addr: str | None = None) -> dict[str, Any]:
    """Verify a request, run its responder and return the signed answer (wire form)."""
    try:
        league = league_of(node)
        request = verify(
            data,
            trust=league.trust,
            members=league.cities,
            own_city=node.city_code,
            now=clock.now(),
        )
        responder = _responders.get(request.payload_type)
        if responder is None:
            raise rejected(
                "unsupported",
                f"this node answers no request of type {request.payload_type!r}",
                sender=request.sender,
                message_id=request.message_id,
                key_id=request.key_id,
            )
        wire = request.to_wire()
        with node.transaction() as session:
            done = session.scalars(
                select(RpcRequest).where(RpcRequest.message_id == request.message_id)
            ).one_or_none()
            if done is not None:
                if done.digest != _digest(wire):
                    raise rejected(
                        "replayed",
                        f"request {request.message_id} was already answered for other content",
                        sender=request.sender,
                        message_id=request.message_id,
                        key_id=request.key_id,
                    )
                return done.response
            body = responder(session, request)
            response = seal(
                message_id=str(uuid.uuid4()),
                sender=node.city_code,
                receiver=request.sender,
                stream=RPC_STREAM,
                seq=1,
                payload_type=request.payload_type + RESPONSE_SUFFIX,
                body={**body, "request_id": request.message_id},
                key=node.signing_key(),
                created_at=clock.now(),
            ).to_wire()
            session.add(
                RpcRequest(
                    message_id=request.message_id,
                    sender=request.sender,
                    payload_type=request.payload_type,
                    digest=_digest(wire),
                    request=wire,
                    response=response,
                    received_at=clock.now(),
                )
            )
            return response
    except EnvelopeRejected as exc:
        with node.transaction() as session:
            record_rejection(session, exc, remote_addr=remote_addr)
        raise


def call(
    node: Node,
    receiver: str,
    payload_type: str,
    body: dict[str, Any],
    *,
    timeout: float,
    client: httpx.Client | None = None,
) -> dict[str, Any]:
    """Send a signed request to ``receiver`` and return the body of its verified answer.

    Raises :class:`PeerUnreachable` (no answer within ``timeout`` seconds, network error, 5xx),
    :class:`RemoteRefused` (a 4xx problem) or :class:`EnvelopeRejected` (an answer that does
    not verify or does not answer this request).
    """
    league = league_of(node)
    endpoint = league.endpoint(receiver)
    if endpoint is None or receiver == node.city_code:
        raise InvalidInput(
            f"city {receiver} is not another member of the league {league.name}", field="city"
        )
    request = seal(
        message_id=str(uuid.uuid4()),
        sender=node.city_code,
        receiver=receiver,
        stream=RPC_STREAM,
        seq=1,
        payload_type=payload_type,
        body=body,
        key=node.signing_key(),
        created_at=clock.now(),
    )
    http = client or _shared_client()
    try:
        response = http.post(endpoint + RPC_PATH, json=request.to_wire(), timeout=timeout)
    except httpx.HTTPError as exc:
        raise PeerUnreachable(
            f"city {receiver} did not answer {payload_type} within {timeout:g} s "
            f"({type(exc).__name__})",
            city=receiver,
        ) from None
    if response.status_code >= 500:
        raise PeerUnreachable(
            f"city {receiver} failed on {payload_type} (HTTP {response.status_code})", city=receiver
        )
    if not response.is_success:
        problem: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            problem = response.json()
        raise RemoteRefused(
            f"city {receiver} refused {payload_type}: {problem.get('detail', response.text[:300])}",
            city=receiver,
            remote_status=response.status_code,
            remote_reason=problem.get("reason"),
        )
    try:
        data = response.json()
    except ValueError:
        raise rejected("malformed", f"the answer of city {receiver} is not JSON") from None
    reply = verify(
        data, trust=league.trust, members=league.cities, own_city=node.city_code, now=clock.now()
    )
    if (
        reply.sender != receiver
        or reply.payload_type != payload_type + RESPONSE_SUFFIX
        or reply.body.get("request_id") != request.message_id
    ):
        raise rejected(
            "misrouted",
            f"the answer from {reply.sender} ({reply.payload_type}) does not answer request "
            f"{request.message_id}",
            sender=reply.sender,
            message_id=reply.message_id,
            key_id=reply.key_id,
        )
    return reply.body
