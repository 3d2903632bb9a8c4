"""HTTP API of pension qualification certification (社保资格认证).

Staff run the certification, read the rate report and the work lists, import evidence files and
record service-point and home-visit results. The identity provider's callback carries no bearer
token: it is authenticated by the provider's signature, checked against the key registered on
this node.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status
from pydantic import BaseModel, Field

from yikatong.api.auth import Principal, require
from yikatong.api.deps import NodeDep, RowId, SessionDep
from yikatong.certification import rules, service
from yikatong.certification.models import Evidence, IdentityProvider, Run, State
from yikatong.core import clock

router = APIRouter(prefix="/api/v1/certification", tags=["certification"])

_WRITE = require("clerk", "admin")
_READ = require("clerk", "auditor", "admin")
_ADMIN = require("admin")


class RunIn(BaseModel):
    as_of: dt.date | None = Field(default=None, description="Default: today")
    engine: str = Field(default="duckdb", pattern=r"^(duckdb|spark)$")


class RunOut(BaseModel):
    run_id: int
    as_of: dt.date
    engine: str
    retirees: int
    by_status: dict[str, int]
    newly_suspended: int
    resumed: int
    overpaid_lines: int


class RunRow(BaseModel):
    id: int
    as_of: dt.date
    engine: str
    retirees: int
    certified: int
    fallback: int
    suspended: int
    negative: int
    newly_suspended: int
    resumed: int
    overpaid_lines: int
    actor: str
    started_at: dt.datetime
    finished_at: dt.datetime

    @classmethod
    def of(cls, r: Run) -> RunRow:
        return cls(**{name: getattr(r, name) for name in cls.model_fields})


class RateRowOut(BaseModel):
    district_code: str
    retirees: int
    certified: int
    rate_percent: float
    by_channel: dict[str, int]
    meets_target: bool

    @classmethod
    def of(cls, r: service.RateRow) -> RateRowOut:
        return cls(
            district_code=r.district_code,
            retirees=r.retirees,
            certified=r.certified,
            rate_percent=round(r.rate * 100, 2),
            by_channel={c: r.by_channel.get(c, 0) for c in rules.CHANNELS},
            meets_target=r.meets_target,
        )


class ReportOut(BaseModel):
    as_of: dt.date
    target_percent: int
    districts: list[RateRowOut]
    total: RateRowOut
    excluded_negative: int


class WorkItemOut(BaseModel):
    resident_id: int
    name: str
    id_masked: str
    district_code: str
    address: str | None
    status: str
    stage: str | None
    last_positive_on: dt.date | None
    valid_until: dt.date | None

    @classmethod
    def of(cls, item: service.WorkItem) -> WorkItemOut:
        return cls(**{name: getattr(item, name) for name in cls.model_fields})


class ResultIn(BaseModel):
    channel: str = Field(pattern=r"^(service_point|home_visit)$")
    outcome: str = Field(default="alive", pattern=r"^(alive|deceased)$")
    day: dt.date | None = Field(default=None, description="Default: today")
    reference: str = Field(min_length=1, max_length=64, examples=["SP-370202-000123"])


class ResultOut(BaseModel):
    resident_id: int
    certified: bool
    certified_on: dt.date | None = None
    valid_until: dt.date | None = None
    channel: str | None = None
    months_owed: int = 0
    pension_stopped: int = 0
    overpaid_lines: int = 0
    overpaid_fen: int = 0

    @classmethod
    def of(cls, resident_id: int, r: service.Certified | service.StopOutcome) -> ResultOut:
        if isinstance(r, service.Certified):
            return cls(
                resident_id=resident_id,
                certified=True,
                certified_on=r.certified_on,
                valid_until=r.valid_until,
                channel=r.channel,
                months_owed=r.months_owed,
            )
        return cls(
            resident_id=resident_id,
            certified=False,
            pension_stopped=r.suspended,
            overpaid_lines=r.overpaid_lines,
            overpaid_fen=r.overpaid_fen,
        )


class EvidenceOut(BaseModel):
    id: int
    kind: str
    occurred_on: dt.date
    source: str
    source_ref: str
    recorded_by: str

    @classmethod
    def of(cls, e: Evidence) -> EvidenceOut:
        return cls(**{name: getattr(e, name) for name in cls.model_fields})


class StateOut(BaseModel):
    resident_id: int
    district_code: str
    status: str
    stage: str | None
    last_positive_on: dt.date | None
    valid_until: dt.date | None
    last_kind: str | None
    last_channel: str | None
    negative_kind: str | None
    negative_on: dt.date | None
    suspended: bool
    as_of: dt.date
    evidence: list[EvidenceOut]

    @classmethod
    def of(cls, s: State, evidence: list[Evidence]) -> StateOut:
        fields = {name: getattr(s, name) for name in cls.model_fields if name != "evidence"}
        return cls(**fields, evidence=[EvidenceOut.of(e) for e in evidence])


class ImportOut(BaseModel):
    kind: str
    rows: int
    added: int
    unchanged: int
    suspended: int
    overpaid_lines: int


class ProviderIn(BaseModel):
    code: str = Field(min_length=2, max_length=32, examples=["ykt-face"])
    name: str = Field(default="", max_length=64)
    algorithm: str = Field(pattern=r"^(SM2|Ed25519)$")
    public_key: str = Field(min_length=2, max_length=200, description="hex")


class ProviderOut(BaseModel):
    code: str
    name: str
    algorithm: str
    key_id: str
    active: bool

    @classmethod
    def of(cls, p: IdentityProvider) -> ProviderOut:
        return cls(**{name: getattr(p, name) for name in cls.model_fields})


class FaceCheckIn(BaseModel):
    provider: str = Field(min_length=2, max_length=32)
    result: dict[str, Any] = Field(description="The result exactly as the provider signed it")
    signature: str = Field(min_length=2, max_length=400, description="hex")


class FaceCheckOut(BaseModel):
    accepted: bool
    certified: bool
    resident_id: int | None = None
    valid_until: dt.date | None = None
    months_owed: int = 0


@router.post("/runs", response_model=RunOut, status_code=status.HTTP_201_CREATED)
def run_certification(
    body: RunIn, session: SessionDep, node: NodeDep, who: Principal = _WRITE
) -> RunOut:
    """Certify every retiree as of a day and act on the outcome."""
    outcome = service.run_certification(
        session,
        as_of=body.as_of or clock.today(),
        engine=body.engine,  # type: ignore[arg-type]
        actor=who.subject,
        allow_illustrative=node.settings.demo,
    )
    return RunOut(
        run_id=outcome.run_id,
        as_of=outcome.as_of,
        engine=outcome.engine,
        retirees=outcome.retirees,
        by_status=outcome.by_status,
        newly_suspended=outcome.newly_suspended,
        resumed=outcome.resumed,
        overpaid_lines=outcome.overpaid_lines,
    )


@router.get("/runs", response_model=list[RunRow])
def list_runs(session: SessionDep, _: Principal = _READ) -> list[RunRow]:
    return [RunRow.of(r) for r in service.list_runs(session)]


@router.get("/report", response_model=ReportOut, summary="Certification rate by district")
def report(
    session: SessionDep,
    node: NodeDep,
    as_of: Annotated[dt.date | None, Query()] = None,
    _: Principal = _READ,
) -> ReportOut:
    result = service.rate_report(session, as_of=as_of, allow_illustrative=node.settings.demo)
    return ReportOut(
        as_of=result.as_of,
        target_percent=result.target_percent,
        districts=[RateRowOut.of(r) for r in result.districts],
        total=RateRowOut.of(result.total),
        excluded_negative=result.excluded_negative,
    )


@router.get("/expiring", response_model=list[WorkItemOut], summary="About to expire")
def expiring(
    session: SessionDep,
    node: NodeDep,
    within: Annotated[int | None, Query(ge=1, le=366)] = None,
    _: Principal = _READ,
) -> list[WorkItemOut]:
    items = service.expiring(session, within_days=within, allow_illustrative=node.settings.demo)
    return [WorkItemOut.of(i) for i in items]


@router.get(
    "/work-list", response_model=dict[str, list[WorkItemOut]], summary="Fallback work by district"
)
def work_list(
    session: SessionDep,
    stage: Annotated[str, Query(pattern=r"^(app_face|service_point|home_visit)$")] = "home_visit",
    district: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    _: Principal = _READ,
) -> dict[str, list[WorkItemOut]]:
    grouped = service.work_list(session, stage=stage, district_code=district)
    return {code: [WorkItemOut.of(i) for i in items] for code, items in grouped.items()}


@router.get("/residents/{resident_id}", response_model=StateOut)
def resident_state(resident_id: RowId, session: SessionDep, _: Principal = _READ) -> StateOut:
    return StateOut.of(
        service.state_of(session, resident_id), service.evidence_of(session, resident_id)
    )


@router.post("/residents/{resident_id}/results", response_model=ResultOut)
def record_result(
    resident_id: RowId, body: ResultIn, session: SessionDep, who: Principal = _WRITE
) -> ResultOut:
    """A service-point or home-visit result entered by staff."""
    result = service.record_channel_result(
        session,
        resident_id,
        channel=body.channel,
        outcome=body.outcome,
        day=body.day or clock.today(),
        reference=body.reference,
        actor=who.subject,
    )
    return ResultOut.of(resident_id, result)


@router.post("/evidence/import", response_model=ImportOut)
def import_evidence(
    session: SessionDep,
    body: Annotated[bytes, Body(media_type="application/octet-stream")],
    kind: Annotated[str, Query(max_length=24)],
    source: Annotated[str, Query(max_length=32)],
    file_format: Annotated[str, Query(alias="format", pattern=r"^(csv|parquet)$")] = "csv",
    who: Principal = _WRITE,
) -> ImportOut:
    """An evidence file (CSV or Parquet); refused whole, with line numbers, if any row is bad."""
    outcome = service.import_evidence(
        session, kind=kind, data=body, file_format=file_format, source=source, actor=who.subject
    )
    return ImportOut(**{name: getattr(outcome, name) for name in ImportOut.model_fields})


@router.post("/identity-providers", response_model=ProviderOut, status_code=status.HTTP_201_CREATED)
def register_provider(
    body: ProviderIn, session: SessionDep, who: Principal = _ADMIN
) -> ProviderOut:
    provider = service.register_identity_provider(
        session,
        code=body.code,
        name=body.name,
        algorithm=body.algorithm,
        public_key_hex=body.public_key,
        actor=who.subject,
    )
    return ProviderOut.of(provider)


@router.get("/identity-providers", response_model=list[ProviderOut])
def list_providers(session: SessionDep, _: Principal = _READ) -> list[ProviderOut]:
    return [ProviderOut.of(p) for p in service.list_identity_providers(session)]


@router.post("/face-checks", response_model=FaceCheckOut, summary="Identity provider callback")
def face_check_callback(body: FaceCheckIn, session: SessionDep) -> FaceCheckOut:
    """A face check signed by a registered identity provider (no bearer token: the signature
    authenticates it). A failed check is accepted and certifies nobody."""
    certified = service.accept_face_check(
        session, provider_code=body.provider, result=body.result, signature_hex=body.signature
    )
    if certified is None:
        return FaceCheckOut(accepted=True, certified=False)
    return FaceCheckOut(
        accepted=True,
        certified=True,
        resident_id=certified.resident_id,
        valid_until=certified.valid_until,
        months_owed=certified.months_owed,
    )
