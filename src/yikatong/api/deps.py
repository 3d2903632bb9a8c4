"""Request-scoped dependencies shared by every router."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from yikatong.node import Node


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    node: Node = request.app.state.node
    with node.sessions() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
NodeDep = Annotated[Node, Depends(get_node)]

# Row ids are 32-bit integers on PostgreSQL (and SQLite accepts no more than 64 bits): anything
# larger cannot name a row, so it is refused as bad input instead of reaching the database.
MAX_ROW_ID = 2_147_483_647
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Row id (1 to 2147483647)")]
