"""The order the domains' routers are included in (terminal-facing first: a request walks them
in order until one matches, and terminal requests are the busiest) decides nothing but speed:
no route of one router answers a path of another's."""

from __future__ import annotations

import importlib
import re

from fastapi.routing import APIRoute
from starlette.routing import Match

from yikatong.api.app import ROUTERS

TERMINAL_FACING = (
    "yikatong.transit.api",
    "yikatong.acquiring.api",
    "yikatong.canteens.api",
    "yikatong.venues.api",
    "yikatong.vouchers.api",
)


def _routes() -> list[tuple[str, APIRoute]]:
    return [
        (module_name, route)
        for module_name in ROUTERS
        for route in importlib.import_module(module_name).router.routes
        if isinstance(route, APIRoute)
    ]


def _sample_path(route: APIRoute) -> str:
    """A concrete path of the route: its parameters filled with values their convertors take."""

    def value(match: re.Match[str]) -> str:
        kind = match.group(2) or "str"
        return {"int": "7", "path": "a/b7", "float": "7.5"}.get(kind, "q7x")

    return re.sub(r"\{(\w+)(?::(\w+))?\}", value, route.path)


def test_no_route_answers_another_routers_path() -> None:
    routes = _routes()
    clashes = []
    for owner, route in routes:
        for method in route.methods:
            scope = {"type": "http", "path": _sample_path(route), "method": method, "root_path": ""}
            for other_owner, other in routes:
                if other_owner != owner and other.matches(scope)[0] is Match.FULL:
                    clashes.append(
                        f"{method} {route.path} ({owner}) by {other.path} ({other_owner})"
                    )
    assert clashes == []


def test_terminal_facing_routers_come_first() -> None:
    assert ROUTERS[: len(TERMINAL_FACING)] == TERMINAL_FACING
    terminal_paths = {
        owner for owner, route in _routes() if route.path.startswith("/api/v1/terminal/")
    }
    assert terminal_paths <= set(TERMINAL_FACING)
