"""Node identity and health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from yikatong import __version__
from yikatong.api.deps import NodeDep, SessionDep
from yikatong.api.problems import problem_response

# Handlers and their dependencies run in worker threads, each stage of a request in its own
# hop; a request that holds a database connection (or SQLite's write lock) needs one more hop to
# finish. With more requests in flight than worker threads, every thread can end up waiting for
# a connection that only a thread-less request could give back. ``ykt serve`` therefore admits at
# most MAX_CONCURRENT_REQUESTS at once (``RequestsInFlight`` answers 503 beyond it) and runs more
# worker threads than that, so a free thread always exists for the next hop.
MAX_CONCURRENT_REQUESTS = 64
WORKER_THREADS = MAX_CONCURRENT_REQUESTS + 16
# Connections a server process keeps open: each validator and till of a city may keep one open
# between its taps (keep-alive), most of them idle. uvicorn answers 503 beyond this many.
MAX_CONNECTIONS = 4096


class RequestsInFlight:
    """Admit at most ``limit`` requests at once and answer the others 503 (problem+json, with
    ``Retry-After``) without touching the application.

    uvicorn's own limit counts open connections as well as requests: with more validators than
    the limit each keeping its connection open between taps, requests got 503 while the server
    had almost nothing to do. Here only requests being answered count.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_CONCURRENT_REQUESTS) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            busy = problem_response(
                503,
                {
                    "type": "https://yikatong.org/problems/busy",
                    "title": "Busy",
                    "status": 503,
                    "detail": f"the node is answering {self.limit} requests already; "
                    "send this one again in a moment",
                    "instance": scope.get("path"),
                },
            )
            busy.headers["Retry-After"] = "1"
            await busy(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
    yield


router = APIRouter(prefix="/api/v1", tags=["system"], lifespan=lifespan)


class NodeInfo(BaseModel):
    city_code: str
    city_name: str
    version: str
    database: str


@router.get("/node", response_model=NodeInfo)
def node_info(node: NodeDep, session: SessionDep) -> NodeInfo:
    session.execute(text("SELECT 1"))
    return NodeInfo(
        city_code=node.city_code,
        city_name=node.settings.city_name,
        version=__version__,
        database=node.engine.dialect.name,
    )
