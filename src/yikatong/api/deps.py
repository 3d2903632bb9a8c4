"""Request-scoped dependencies shared by every router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from yikatong.node import Node


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error.

    Opening the session takes no connection (that happens at the first query, in the handler's
    worker thread); the commit runs here on the event loop, not in the thread pool. So a request
    holding a pooled connection never waits for a free worker thread to give it back, and
    handlers waiting for a connection cannot starve the pool (the classic deadlock of sync
    ``yield`` dependencies under load: every worker thread waiting for a connection that only a
    worker thread could release)."""
    node: Node = request.app.state.node
    with node.sessions() as session, session.begin():
        yield session


# "function" scope: the commit happens after the handler returns and BEFORE the response is sent,
# so nothing is acknowledged that is not durable (the default scope would commit after sending).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
NodeDep = Annotated[Node, Depends(get_node)]

# Row ids are 32-bit integers on PostgreSQL (and SQLite accepts no more than 64 bits): anything
# larger cannot name a row, so it is refused as bad input instead of reaching the database.
MAX_ROW_ID = 2_147_483_647
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Row id (1 to 2147483647)")]
