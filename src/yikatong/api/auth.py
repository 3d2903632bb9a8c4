"""Bearer tokens carrying roles: clerk, auditor, admin, terminal, resident.

A token is ``ykt1.<payload>.<mac>``: base64url JSON claims and an HMAC-SM3 under the node's token
key. Issued by ``ykt token issue`` (staff, terminals) or by the resident sign-in.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from yikatong.core import clock
from yikatong.core.errors import Forbidden, InvalidInput, Unauthorized
from yikatong.crypto.sm3 import hmac_sm3
from yikatong.node import Node

ROLES = ("clerk", "auditor", "admin", "terminal", "resident")
STAFF_ROLES = frozenset({"clerk", "auditor", "admin"})
# Roles that may see unmasked personal data (each read audited).
UNMASK_ROLES = frozenset({"clerk", "admin"})


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    resident_id: int | None = None
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def role(self) -> str:
        return sorted(self.roles)[0]

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    node: Node,
    subject: str,
    roles: list[str],
    *,
    resident_id: int | None = None,
    ttl: dt.timedelta = dt.timedelta(hours=12),
    extra: dict[str, Any] | None = None,
) -> str:
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise InvalidInput(f"roles must be among {', '.join(ROLES)}; got {roles}", field="roles")
    if "resident" in roles and resident_id is None:
        raise InvalidInput("a resident token needs the resident id", field="resident_id")
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": sorted(roles),
        "exp": int((clock.now() + ttl).timestamp()),
        "city": node.city_code,
    }
    if resident_id is not None:
        claims["rid"] = resident_id
    if extra:
        claims.update(extra)
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    mac = _b64(hmac_sm3(node.data_keys.token_key, payload.encode()))
    return f"ykt1.{payload}.{mac}"


def read_token(node: Node, token: str) -> Principal:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "ykt1":
        raise Unauthorized("malformed access token; sign in again")
    expected = _b64(hmac_sm3(node.data_keys.token_key, parts[1].encode()))
    if not hmac.compare_digest(expected, parts[2]):
        raise Unauthorized("access token signature is invalid; sign in again")
    try:
        claims = json.loads(_unb64(parts[1]))
    except ValueError:
        raise Unauthorized("malformed access token; sign in again") from None
    if int(claims.get("exp", 0)) < clock.now().timestamp():
        raise Unauthorized("access token has expired; sign in again")
    return Principal(
        subject=str(claims["sub"]),
        roles=frozenset(claims.get("roles", [])),
        resident_id=claims.get("rid"),
        claims=claims,
    )


_bearer = HTTPBearer(auto_error=False, description="Token from `ykt token issue` or sign-in")


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = credentials.credentials if credentials else request.cookies.get("ykt_token")
    if not token:
        raise Unauthorized("this endpoint needs a bearer token (Authorization: Bearer ykt1…)")
    node: Node = request.app.state.node
    return read_token(node, token)


def require(*roles: str) -> Any:
    """Dependency: the caller must hold one of ``roles``."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.has(*roles):
            raise Forbidden(
                f"this action needs one of the roles {', '.join(roles)}; "
                f"your token carries {', '.join(sorted(principal.roles))}"
            )
        return principal

    return Depends(check)
