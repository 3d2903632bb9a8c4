"""Node identity and health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from yikatong import __version__
from yikatong.api.deps import NodeDep, SessionDep

# Handlers and their dependencies run in worker threads, each stage of a request in its own
# hop; a request that holds a database connection (or SQLite's write lock) needs one more hop to
# finish. With more requests in flight than worker threads, every thread can end up waiting for
# a connection that only a thread-less request could give back. ``ykt serve`` therefore admits at
# most MAX_CONCURRENT_REQUESTS at once (uvicorn answers 503 beyond it) and runs more worker
# threads than that, so a free thread always exists for the next hop.
MAX_CONCURRENT_REQUESTS = 64
WORKER_THREADS = MAX_CONCURRENT_REQUESTS + 16


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
