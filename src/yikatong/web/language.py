"""The language switch in the page header: remembers the choice in the ``lang`` cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse

from yikatong.core.errors import InvalidInput
from yikatong.web.render import LANG_COOKIE, LANGUAGES

router = APIRouter(include_in_schema=False)


@router.get("/lang/{code}")
def switch_language(
    code: str, next: Annotated[str, Query(max_length=2000)] = "/"
) -> RedirectResponse:
    """Show the pages in ``code`` (zh-CN or en) from now on, back on the page the switch was on."""
    if code not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}", field="code")
    # Only a path on this site: never "//elsewhere" or a full URL (no open redirect).
    target = next if next.startswith("/") and next[1:2] not in ("/", "\\") else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        LANG_COOKIE, code, max_age=365 * 24 * 3600, path="/", samesite="lax", httponly=True
    )
    return response
