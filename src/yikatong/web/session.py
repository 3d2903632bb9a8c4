"""Signing in to the web pages: the same tokens as the API, kept in an HttpOnly, SameSite=Strict
cookie (so a page on another site cannot post with it).

A resident or staff member signs in with the token their identity provider or ``ykt token issue``
gave them. In the demo (``YKT_DEMO``/``ykt demo``) the sign-in page also lists the demo accounts,
one click each.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from yikatong.api.auth import Principal, issue_token, read_token
from yikatong.api.deps import NodeDep, SessionDep
from yikatong.core.errors import DomainError, Forbidden, InvalidInput
from yikatong.essc import service as essc
from yikatong.node import Node
from yikatong.web.render import page_context, templates

COOKIE = "ykt_token"
DEMO_STAFF = {
    "clerk-demo": ["clerk"],
    "clerk-demo-2": ["clerk"],
    "auditor-demo": ["auditor"],
    "admin-demo": ["admin"],
    "kiosk-demo-01": ["terminal"],
}

router = APIRouter(include_in_schema=False)


def signed_in(request: Request) -> Principal | None:
    """Who the cookie says is signed in, or None (no cookie, expired or forged token)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    node: Node = request.app.state.node
    try:
        return read_token(node, token)
    except DomainError:
        return None


def staff_signed_in(request: Request) -> Principal | None:
    """The signed-in member of staff, or None (nobody, or a resident)."""
    principal = signed_in(request)
    return principal if principal is not None and principal.is_staff else None


def to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def _home_of(principal: Principal) -> str:
    if principal.is_staff:
        return "/console"
    return "/kiosk" if principal.has("terminal") else "/me"


def _signed_in_response(node: Node, token: str, next_path: str | None) -> Response:
    principal = read_token(node, token)
    target = next_path if next_path and next_path.startswith("/") else _home_of(principal)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", max_age=12 * 3600, path="/"
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, node: NodeDep, session: SessionDep, next: str | None = None
) -> HTMLResponse:
    context = page_context(request, node)
    context["next"] = next or ""
    context["demo_residents"] = []
    if node.settings.demo:
        context["demo_residents"] = essc.app_accounts(session, prefix="demo-")
        context["demo_staff"] = list(DEMO_STAFF)
    return templates.TemplateResponse(request, "login.html", context)


@router.post("/login")
def login_with_token(
    request: Request,
    node: NodeDep,
    token: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        if not token.strip():
            raise InvalidInput("paste the access token you were given", field="token")
        return _signed_in_response(node, token.strip(), next)
    except DomainError as exc:
        context = page_context(request, node)
        context.update(next=next, error=exc.detail, demo_residents=[])
        return templates.TemplateResponse(request, "login.html", context, status_code=exc.status)


@router.post("/login/demo")
def login_demo(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    account: Annotated[str, Form(max_length=64)],
) -> Response:
    """Demo only: sign in as one of the demo accounts without a token."""
    if not node.settings.demo:
        raise Forbidden("demo sign-in is available in the demo only")
    if account in DEMO_STAFF:
        token = issue_token(node, account, DEMO_STAFF[account], ttl=dt.timedelta(hours=12))
        return _signed_in_response(node, token, None)
    bound = essc.account_by_app_id(session, account)
    if bound is None or not account.startswith("demo-"):
        raise InvalidInput(f"no demo account {account!r}", field="account")
    token = issue_token(
        node, account, ["resident"], resident_id=bound.resident_id, ttl=dt.timedelta(hours=12)
    )
    return _signed_in_response(node, token, None)


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
