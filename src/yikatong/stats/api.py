"""HTTP API of statistics: the dashboard's figures as JSON (staff only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from yikatong.api.auth import Principal, require
from yikatong.api.deps import SessionDep
from yikatong.stats import service
from yikatong.stats.service import Granularity, Unit

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])

StaffDep = Annotated[Principal, require("clerk", "auditor", "admin")]


class DistrictFigure(BaseModel):
    district: str
    value: int | None


class SeriesOut(BaseModel):
    key: str
    title: str
    unit: Unit
    available: bool
    points: list[int | None]
    total: int | None
    by_district: list[DistrictFigure]


class FiguresOut(BaseModel):
    since: dt.date
    until: dt.date
    granularity: Granularity
    district: str | None
    periods: list[str]
    series: list[SeriesOut]
    districts: list[str]

    @classmethod
    def of(cls, figures: service.Figures) -> FiguresOut:
        return cls(
            since=figures.period.since,
            until=figures.period.until,
            granularity=figures.period.granularity,
            district=figures.period.district,
            periods=list(figures.periods),
            series=[
                SeriesOut(
                    key=s.key,
                    title=service.TITLES[s.key],
                    unit=s.unit,
                    available=s.available,
                    points=list(s.points),
                    total=s.total,
                    by_district=[DistrictFigure(district=d, value=v) for d, v in s.by_district],
                )
                for s in figures.series
            ],
            districts=list(figures.districts),
        )


@router.get(
    "",
    response_model=FiguresOut,
    summary="The city's reported figures by day or month, optionally for one district",
)
def figures(
    session: SessionDep,
    _staff: StaffDep,
    since: Annotated[
        dt.date | None, Query(description="First local day (default: 30 days / 12 months back)")
    ] = None,
    until: Annotated[dt.date | None, Query(description="Last local day (default today)")] = None,
    granularity: Annotated[Granularity, Query()] = Granularity.DAY,
    district: Annotated[str | None, Query(pattern=r"^\d{6}$", description="District code")] = None,
) -> FiguresOut:
    """Money in fen; rates in ‰. A figure with ``available: false`` has no data on this node
    (its domain's tables are not here)."""
    period = service.Period.of(since=since, until=until, granularity=granularity, district=district)
    return FiguresOut.of(service.figures(session, period))
