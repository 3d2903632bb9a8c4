"""Node identity and health."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from yikatong import __version__
from yikatong.api.deps import NodeDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["system"])


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
