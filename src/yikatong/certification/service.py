"""Use cases of pension qualification certification (社保资格认证, DOMAIN.md §2.8).

Every retiree (a beneficiary of a basic pension programme) must be certified alive once every 12
months. The platform certifies most of them silently (无感认证) from what it sees anyway
(:mod:`evidence`: medical settlements, rides, meals, venue entries, benefit receipts) and from
imported files (hospital admissions, travel security checks). Negative evidence (death
registration, imprisonment, emigration) stops the pension at once, and a death books every
pension month paid after it as a receivable (overpayment recovery).

A run (:func:`run_certification`) exports the retirees and their evidence to Parquet, applies
:data:`rules.RULES_SQL` with DuckDB or PySpark, and acts on the result:

* not certified silently → the fallback channels, in order: app face check (a result signed by
  an identity provider, :func:`accept_face_check`), service point and home visit by staff
  (:func:`record_channel_result`, work lists by district);
* unconfirmed at the deadline → pension suspended (``benefits.suspend_beneficiary``);
* certified later (by a run or a recorded result) → pension resumed and the months held owed;
  the next batch pays them (``benefits.resume_beneficiary``).

A retiree living in another league city is certified there; that city signs the result and
sends it (:func:`send_remote_certification`); the home city accepts it only if the signature is
the sender city's (:func:`apply_remote_certification`, registered as a federation handler).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.benefits import service as benefits
from yikatong.benefits.models import BeneficiaryStatus
from yikatong.certification import engines, rules
from yikatong.certification import evidence as evidence_sources
from yikatong.certification.models import Evidence, IdentityProvider, Overpayment, Run, State
from yikatong.core import clock
from yikatong.core.errors import Conflict, Forbidden, InvalidInput, NotFound, PolicyError
from yikatong.core.ids import parse_resident_id
from yikatong.core.policy import load_policy_file, packaged_policy_path
from yikatong.crypto.keyring import ALGORITHMS, VerifyKey, key_id_for
from yikatong.federation import service as federation
from yikatong.federation.envelope import Envelope
from yikatong.registry import service as registry

_POLICY_CITY = "qingdao"
_BEIJING = dt.timezone(dt.timedelta(hours=8))
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
_REF = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_CITY = re.compile(r"^\d{6}$")
IMPORT_KINDS = ("hospital_admission", "travel_check", "death", "imprisonment", "emigration")
IMPORT_HEADER = ("id_number", "occurred_on", "source_ref")
IMPORT_MAX_BYTES = 200 * 1024 * 1024
STAFF_CHANNELS = ("service_point", "home_visit")
REMOTE_PAYLOAD = "certification.result"
REMOTE_STREAM = "certification"
FACE_CHECK_MAX_AGE = dt.timedelta(days=7)
FACE_CHECK_SKEW = dt.timedelta(minutes=5)
SYSTEM_ACTOR = "system:certification"


# --------------------------------------------------------------------------- policy


class FallbackPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_face_days: StrictInt = Field(ge=1, le=180)
    service_point_days: StrictInt = Field(ge=1, le=180)


class CertificationPolicy(BaseModel):
    """A city-year file ``policies/<city>/certification-<year>.yaml``; every value required."""

    model_config = ConfigDict(extra="forbid")

    city: str
    city_code: str = Field(pattern=r"^\d{6}$")
    year: StrictInt
    validity_months: StrictInt = Field(ge=1, le=36)
    lead_days: StrictInt = Field(ge=1, le=365)
    fallback: FallbackPolicy
    grace_days: StrictInt = Field(ge=0, le=365)
    target_rate_percent: StrictInt = Field(ge=1, le=100)
    expiring_days: StrictInt = Field(ge=1, le=365)

    @property
    def rule(self) -> rules.RuleParameters:
        return rules.RuleParameters(
            validity_months=self.validity_months,
            lead_days=self.lead_days,
            app_face_days=self.fallback.app_face_days,
            service_point_days=self.fallback.service_point_days,
            grace_days=self.grace_days,
        )


def certification_policy(year: int, *, allow_illustrative: bool) -> CertificationPolicy:
    """The packaged policy in force in ``year``: the newest file of that year or before."""
    for candidate in range(year, year - 30, -1):
        path = packaged_policy_path(_POLICY_CITY, f"certification-{candidate}.yaml")
        if path.exists():
            return load_policy_file(
                path, CertificationPolicy, allow_illustrative=allow_illustrative
            )
    raise PolicyError(f"no certification policy of {_POLICY_CITY} for {year} or any earlier year")


# --------------------------------------------------------------------------- helpers


def _local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(_BEIJING).date()


def _canonical(data: Any) -> bytes:
    """Sorted-key compact UTF-8 JSON: the bytes a signer signs and a verifier checks."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _parse_day(text: object, *, field: str) -> dt.date:
    if isinstance(text, dt.datetime):
        return text.date()
    if isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date; write YYYY-MM-DD", field=field) from None


def _pensions_of(session: Session, resident_id: int) -> list[benefits.Pensioner]:
    return benefits.pensioners(session, resident_id=resident_id)


def _state(session: Session, resident_id: int) -> State | None:
    return session.get(State, resident_id)


def _add_evidence(
    session: Session,
    *,
    resident_id: int,
    kind: str,
    occurred_on: dt.date,
    source: str,
    source_ref: str,
    actor: str,
    details: dict[str, Any] | None = None,
) -> tuple[Evidence, bool]:
    """Record one piece of evidence; ``(row, False)`` when the same one is already recorded."""
    existing = session.scalar(
        select(Evidence).where(
            Evidence.kind == kind, Evidence.source == source, Evidence.source_ref == source_ref
        )
    )
    if existing is not None:
        if existing.resident_id != resident_id or existing.occurred_on != occurred_on:
            raise Conflict(
                f"{kind} {source_ref} from {source} is already recorded for another person or "
                f"day (resident {existing.resident_id}, {existing.occurred_on})"
            )
        return existing, False
    row = Evidence(
        resident_id=resident_id,
        kind=kind,
        occurred_on=occurred_on,
        source=source[:64],
        source_ref=source_ref[:64],
        details=details or {},
        recorded_at=clock.now(),
        recorded_by=actor[:64],
    )
    session.add(row)
    session.flush()
    return row, True


# --------------------------------------------------------------------------- stopping and resuming


@dataclass(frozen=True, slots=True)
class StopOutcome:
    suspended: int
    overpaid_lines: int
    overpaid_fen: int


def _suspend_pensions(
    session: Session, resident_id: int, *, since: dt.date, reason: str, actor: str
) -> int:
    count = 0
    for pension in _pensions_of(session, resident_id):
        if pension.status is BeneficiaryStatus.ACTIVE:
            benefits.suspend_beneficiary(
                session,
                pension.programme_id,
                resident_id,
                reason=reason,
                actor=actor,
                since=since,
            )
            count += 1
    return count


def _recover_after_death(session: Session, resident_id: int, died_on: dt.date) -> list[Overpayment]:
    """Book every pension month paid after the month of death as owed back (多发追回)."""
    booked: list[Overpayment] = []
    for line in benefits.pension_lines_after(session, resident_id, died_on.replace(day=1)):
        if session.scalar(select(Overpayment.id).where(Overpayment.line_id == line.id)):
            continue
        transfer_id = benefits.claim_overpayment(
            session, line.id, reason=f"paid for {line.period:%Y-%m}, died {died_on}"
        )
        row = Overpayment(
            resident_id=resident_id,
            line_id=line.id,
            period=line.period,
            amount=line.amount,
            transfer_id=transfer_id,
            died_on=died_on,
            created_at=clock.now(),
        )
        session.add(row)
        booked.append(row)
    session.flush()
    return booked


def _stop_at_once(
    session: Session,
    resident_id: int,
    kind: str,
    occurred_on: dt.date,
    *,
    actor: str,
    state: State | None = None,
) -> StopOutcome:
    """Negative evidence: the pension stops from the month after the event (paid through the
    month of death); a death books what was paid after it as a receivable."""
    since = (occurred_on.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    suspended = _suspend_pensions(
        session,
        resident_id,
        since=since,
        reason=f"negative evidence: {kind} {occurred_on}",
        actor=actor,
    )
    booked = _recover_after_death(session, resident_id, occurred_on) if kind == "death" else []
    state = state or _state(session, resident_id)
    if state is not None:
        state.status = rules.STATUS_NEGATIVE
        state.stage = None
        state.negative_kind = kind
        state.negative_on = occurred_on
        state.suspended = True
        state.updated_at = clock.now()
    session.flush()
    return StopOutcome(suspended, len(booked), sum(b.amount for b in booked))


def _negative_of(session: Session, resident_id: int) -> Evidence | None:
    return session.scalar(
        select(Evidence)
        .where(Evidence.resident_id == resident_id, Evidence.kind.in_(rules.NEGATIVE_KINDS))
        .order_by(Evidence.occurred_on)
        .limit(1)
    )


def _resume(session: Session, resident_id: int, *, reason: str, actor: str) -> int:
    """Lift the suspensions this domain made; returns the number of months owed (补发)."""
    owed = 0
    for pension in _pensions_of(session, resident_id):
        if pension.status is BeneficiaryStatus.SUSPENDED:
            arrears = benefits.resume_beneficiary(
                session, pension.programme_id, resident_id, reason=reason, actor=actor
            )
            owed += len(arrears)
    return owed


@dataclass(frozen=True, slots=True)
class Certified:
    resident_id: int
    certified_on: dt.date
    valid_until: dt.date
    channel: str
    months_owed: int
    added: bool


def _certify(
    session: Session,
    resident_id: int,
    *,
    kind: str,
    day: dt.date,
    source: str,
    source_ref: str,
    actor: str,
    details: dict[str, Any] | None = None,
) -> Certified:
    """A positive result from a channel: recorded, the state brought up to date, and a pension
    this domain suspended resumed with the held months owed."""
    negative = _negative_of(session, resident_id)
    if negative is not None:
        raise Conflict(
            f"resident {resident_id} has negative evidence ({negative.kind} on "
            f"{negative.occurred_on}, {negative.source} {negative.source_ref}); a positive "
            "result cannot override it — have the source withdraw it first"
        )
    row, added = _add_evidence(
        session,
        resident_id=resident_id,
        kind=kind,
        occurred_on=day,
        source=source,
        source_ref=source_ref,
        actor=actor,
        details=details,
    )
    rule = _rule_for(day)
    channel = rules.KIND_BY_NAME[kind].channel
    state = _state(session, resident_id)
    owed = 0
    if state is not None and (state.last_positive_on is None or day >= state.last_positive_on):
        state.status = rules.STATUS_CERTIFIED
        state.stage = None
        state.last_positive_on = day
        state.valid_until = rules.valid_until(day, rule)
        state.last_kind = kind
        state.last_channel = channel
        state.updated_at = clock.now()
        if state.suspended:
            owed = _resume(
                session, resident_id, reason=f"certified by {kind} on {day}", actor=actor
            )
            state.suspended = False
    session.flush()
    return Certified(
        resident_id, row.occurred_on, rules.valid_until(row.occurred_on, rule), channel, owed, added
    )


def _rule_for(day: dt.date) -> rules.RuleParameters:
    node = current_node.current()
    return certification_policy(day.year, allow_illustrative=node.settings.demo).rule


# --------------------------------------------------------------------------- imported evidence


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    kind: str
    rows: int
    added: int
    unchanged: int
    suspended: int
    overpaid_lines: int


@dataclass(frozen=True, slots=True)
class _ImportRow:
    number: int
    resident_id: int
    occurred_on: dt.date
    source_ref: str


def _rows_of_csv(data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [{"line": 1, "field": "file", "reason": f"not UTF-8: {exc.reason}"}]
    reader = csv.reader(io.StringIO(text))
    try:
        records = list(reader)
    except csv.Error as exc:
        return [], [{"line": reader.line_num, "field": "file", "reason": f"not CSV: {exc}"}]
    if not records or tuple(c.strip() for c in records[0]) != IMPORT_HEADER:
        return [], [
            {
                "line": 1,
                "field": "header",
                "reason": "the first row must be " + ",".join(IMPORT_HEADER),
            }
        ]
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[dict[str, Any]] = []
    for number, record in enumerate(records[1:], start=2):
        if not record or all(not c.strip() for c in record):
            continue
        if len(record) != len(IMPORT_HEADER):
            problems.append(
                {"line": number, "field": "row", "reason": f"{len(record)} columns, expected 3"}
            )
            continue
        rows.append((number, dict(zip(IMPORT_HEADER, (c.strip() for c in record), strict=True))))
    return rows, problems


def _rows_of_parquet(data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        return [], [{"line": 0, "field": "file", "reason": f"not Parquet: {exc}"}]
    missing = [c for c in IMPORT_HEADER if c not in table.column_names]
    if missing:
        return [], [
            {"line": 0, "field": "header", "reason": "missing column(s) " + ", ".join(missing)}
        ]
    # Parquet has no text lines: a row is named by its number, the first data row being 1.
    return [
        (number, row) for number, row in enumerate(table.select(list(IMPORT_HEADER)).to_pylist(), 1)
    ], []


def import_evidence(
    session: Session,
    *,
    kind: str,
    data: bytes,
    file_format: str,
    source: str,
    actor: str,
) -> ImportOutcome:
    """Import a file of evidence (hospital admissions, travel security checks, death
    registrations, imprisonment, emigration) as CSV or Parquet with the columns
    ``id_number,occurred_on,source_ref``.

    A file with any bad row is refused whole with the line numbers (row numbers for Parquet);
    rows already imported change nothing. Negative evidence stops the pension at once.
    """
    if kind not in IMPORT_KINDS:
        raise InvalidInput(
            f"{kind!r} cannot be imported; use one of {', '.join(IMPORT_KINDS)}", field="kind"
        )
    if file_format not in ("csv", "parquet"):
        raise InvalidInput("the file format is csv or parquet", field="format")
    source = source.strip()
    if not _CODE.match(source):
        raise InvalidInput(
            "a source is 2–32 lower-case letters, digits or '-', e.g. qd-civil-affairs",
            field="source",
        )
    if len(data) > IMPORT_MAX_BYTES:
        raise InvalidInput("the file is larger than 200 MiB; split it", field="file")
    raw, problems = _rows_of_csv(data) if file_format == "csv" else _rows_of_parquet(data)
    today = _local_day(clock.now())
    rows: list[_ImportRow] = []
    seen: dict[str, int] = {}
    for number, record in raw:

        def bad(field: str, reason: str, number: int = number) -> None:
            problems.append({"line": number, "field": field, "reason": reason})

        id_text = "" if record.get("id_number") is None else str(record["id_number"]).strip()
        ref = "" if record.get("source_ref") is None else str(record["source_ref"]).strip()
        try:
            resident_number = parse_resident_id(id_text)
        except InvalidInput as exc:
            bad("id_number", exc.detail)
            continue
        try:
            day = _parse_day(record.get("occurred_on"), field="occurred_on")
        except InvalidInput as exc:
            bad("occurred_on", exc.detail)
            continue
        if day > today:
            bad("occurred_on", f"{day} is in the future")
            continue
        if not _REF.match(ref):
            bad("source_ref", "a source reference is 1–64 letters, digits or . _ : -")
            continue
        if ref in seen:
            bad("source_ref", f"{ref} is already on line {seen[ref]}")
            continue
        seen[ref] = number
        resident = registry.find_by_id_number(session, resident_number.number)
        if resident is None:
            bad("id_number", f"{resident_number.masked} is not a resident of this city")
            continue
        previous = session.scalar(
            select(Evidence).where(
                Evidence.kind == kind,
                Evidence.source == f"import:{source}",
                Evidence.source_ref == ref,
            )
        )
        if previous is not None and (
            previous.resident_id != resident.id or previous.occurred_on != day
        ):
            bad("source_ref", f"{ref} was imported before with another person or day")
            continue
        rows.append(_ImportRow(number, resident.id, day, ref))
    if not rows and not problems:
        problems.append(
            {"line": 2 if file_format == "csv" else 1, "field": "row", "reason": "no row"}
        )
    if problems:
        problems.sort(key=lambda p: int(p["line"]))
        where = ", ".join(str(p["line"]) for p in problems[:20])
        raise InvalidInput(
            f"{kind} file refused, nothing applied: {len(problems)} problem(s) on line(s) {where}",
            errors=problems[:1000],
        )
    added = unchanged = suspended = overpaid = 0
    negative = rules.KIND_BY_NAME[kind].polarity == "negative"
    for row in rows:
        _, is_new = _add_evidence(
            session,
            resident_id=row.resident_id,
            kind=kind,
            occurred_on=row.occurred_on,
            source=f"import:{source}",
            source_ref=row.source_ref,
            actor=actor,
        )
        if not is_new:
            unchanged += 1
            continue
        added += 1
        if negative:
            stop = _stop_at_once(session, row.resident_id, kind, row.occurred_on, actor=actor)
            suspended += stop.suspended
            overpaid += stop.overpaid_lines
    return ImportOutcome(kind, len(rows), added, unchanged, suspended, overpaid)


def record_negative_evidence(
    session: Session,
    resident_id: int,
    *,
    kind: str,
    occurred_on: dt.date,
    source: str,
    source_ref: str,
    actor: str,
) -> StopOutcome:
    """One death registration, imprisonment or emigration notice: the pension stops at once."""
    if kind not in rules.NEGATIVE_KINDS:
        raise InvalidInput(f"{kind!r} is not negative evidence", field="kind")
    registry.get_resident(session, resident_id)
    if occurred_on > _local_day(clock.now()):
        raise InvalidInput(f"{occurred_on} is in the future", field="occurred_on")
    if not _REF.match(source_ref):
        raise InvalidInput("a reference is 1–64 letters, digits or . _ : -", field="source_ref")
    _, added = _add_evidence(
        session,
        resident_id=resident_id,
        kind=kind,
        occurred_on=occurred_on,
        source=source,
        source_ref=source_ref,
        actor=actor,
    )
    if not added:
        return StopOutcome(0, 0, 0)
    return _stop_at_once(session, resident_id, kind, occurred_on, actor=actor)


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: int
    as_of: dt.date
    engine: str
    retirees: int
    by_status: dict[str, int]
    newly_suspended: int
    resumed: int
    overpaid_lines: int


def export_inputs(
    session: Session, *, as_of: dt.date, directory: Path, rule: rules.RuleParameters
) -> engines.RuleInputs:
    """Write ``retirees.parquet`` and ``evidence.parquet`` for the rules from this database."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    retirees: dict[int, str] = {}
    ids: list[int] = []
    kinds: list[int] = []
    days: list[dt.date] = []

    def add(resident_id: int, kind: str, day: dt.date) -> None:
        ids.append(resident_id)
        kinds.append(rules.KIND_BY_NAME[kind].code)
        days.append(day)

    for pension in benefits.pensioners(session):
        if pension.resident_id not in retirees:
            resident = registry.get_resident(session, pension.resident_id)
            retirees[pension.resident_id] = resident.district_code
            if resident.died_on is not None:
                add(resident.id, "death", resident.died_on)
        # Enrolment was done in person: it certifies like a service-point visit.
        add(pension.resident_id, "enrolment", pension.first_period)
    since = rules.add_months(as_of, -2 * rule.validity_months)
    for resident_id, code, day in evidence_sources.collect(session, since=since, until=as_of):
        if resident_id in retirees:
            ids.append(resident_id)
            kinds.append(code)
            days.append(day)
    held = select(Evidence.resident_id, Evidence.kind, Evidence.occurred_on).where(
        Evidence.occurred_on <= as_of
    )
    for resident_id, kind, day in session.execute(held):
        if resident_id in retirees:
            add(resident_id, kind, day)
    directory.mkdir(parents=True, exist_ok=True)
    retirees_path = directory / "retirees.parquet"
    evidence_path = directory / "evidence.parquet"
    pq.write_table(
        pa.table(
            {
                "resident_id": pa.array(list(retirees), pa.int64()),
                "district_code": pa.array(list(retirees.values()), pa.string()),
            }
        ),
        retirees_path,
    )
    pq.write_table(
        pa.table(
            {
                "resident_id": pa.array(ids, pa.int64()),
                "kind": pa.array(kinds, pa.int16()),
                "occurred_on": pa.array(days, pa.date32()),
            }
        ),
        evidence_path,
    )
    return engines.RuleInputs(retirees_path, evidence_path)


def run_certification(
    session: Session,
    *,
    as_of: dt.date,
    engine: engines.Engine = "duckdb",
    actor: str,
    allow_illustrative: bool,
) -> RunOutcome:
    """Certify every retiree as of ``as_of`` and act on the outcome (see the module doc)."""
    if engine not in engines.ENGINES:
        raise InvalidInput(f"unknown engine {engine!r}; use duckdb or spark", field="engine")
    if as_of > _local_day(clock.now()):
        raise InvalidInput(
            f"{as_of} is in the future; certify as of today or before", field="as_of"
        )
    policy = certification_policy(as_of.year, allow_illustrative=allow_illustrative)
    rule = policy.rule
    thresholds = rules.Thresholds.of(as_of, rule)
    started = clock.now()
    with tempfile.TemporaryDirectory(prefix="ykt-certify-") as scratch:
        inputs = export_inputs(session, as_of=as_of, directory=Path(scratch), rule=rule)
        table = engines.run(engine, inputs, thresholds)
    run = Run(
        as_of=as_of,
        engine=engine,
        retirees=table.num_rows,
        certified=0,
        fallback=0,
        suspended=0,
        negative=0,
        newly_suspended=0,
        resumed=0,
        overpaid_lines=0,
        started_at=started,
        finished_at=started,
        actor=actor[:64],
    )
    session.add(run)
    session.flush()
    outcome = apply_results(session, table.to_pylist(), run=run, rule=rule)
    run.finished_at = clock.now()
    session.flush()
    return outcome


def apply_results(
    session: Session, results: Iterable[dict[str, Any]], *, run: Run, rule: rules.RuleParameters
) -> RunOutcome:
    """Write each retiree's state and act: stop on negative evidence, suspend at the deadline,
    resume (with the held months owed) when certified again."""
    states = {s.resident_id: s for s in session.scalars(select(State))}
    by_status: Counter[str] = Counter()
    newly_suspended = resumed = overpaid = 0
    now = clock.now()
    for row in results:
        resident_id = int(row["resident_id"])
        status = str(row["status"])
        by_status[status] += 1
        state = states.get(resident_id)
        if state is None:
            state = State(resident_id=resident_id, suspended=False)
            session.add(state)
            states[resident_id] = state
        last = row["last_positive_on"]
        state.district_code = str(row["district_code"])
        state.status = status
        state.stage = row["stage"]
        state.last_positive_on = last
        state.valid_until = rules.valid_until(last, rule) if last is not None else None
        state.last_kind = row["last_kind"]
        state.last_channel = row["last_channel"]
        state.negative_kind = row["negative_kind"]
        state.negative_on = row["negative_on"]
        state.as_of = run.as_of
        state.run_id = run.id
        state.updated_at = now
        if status == rules.STATUS_NEGATIVE:
            kind, day = str(row["negative_kind"]), row["negative_on"]
            stop = _stop_at_once(session, resident_id, kind, day, actor=SYSTEM_ACTOR, state=state)
            newly_suspended += stop.suspended
            overpaid += stop.overpaid_lines
            state.suspended = True
        elif status == rules.STATUS_SUSPEND:
            count = _suspend_pensions(
                session,
                resident_id,
                since=run.as_of.replace(day=1),
                reason=f"qualification not certified by {run.as_of}",
                actor=SYSTEM_ACTOR,
            )
            newly_suspended += count
            state.suspended = True
        elif state.suspended:
            _resume(
                session,
                resident_id,
                reason=f"certified ({row['last_kind']} on {last})",
                actor=SYSTEM_ACTOR,
            )
            state.suspended = False
            resumed += 1
    session.flush()
    run.certified = by_status[rules.STATUS_CERTIFIED]
    run.fallback = by_status[rules.STATUS_FALLBACK]
    run.suspended = by_status[rules.STATUS_SUSPEND]
    run.negative = by_status[rules.STATUS_NEGATIVE]
    run.newly_suspended = newly_suspended
    run.resumed = resumed
    run.overpaid_lines = overpaid
    return RunOutcome(
        run.id,
        run.as_of,
        run.engine,
        run.retirees,
        {s: by_status[s] for s in rules.STATUSES},
        newly_suspended,
        resumed,
        overpaid,
    )


def list_runs(session: Session, *, limit: int = 100) -> list[Run]:
    return list(session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))


def state_of(session: Session, resident_id: int) -> State:
    state = session.get(State, resident_id)
    if state is None:
        raise NotFound(f"resident {resident_id} has no certification state; run `ykt certify run`")
    return state


def evidence_of(session: Session, resident_id: int, *, limit: int = 200) -> list[Evidence]:
    query = (
        select(Evidence)
        .where(Evidence.resident_id == resident_id)
        .order_by(Evidence.occurred_on.desc(), Evidence.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def overpayments_of(session: Session, resident_id: int) -> list[Overpayment]:
    query = select(Overpayment).where(Overpayment.resident_id == resident_id)
    return list(session.scalars(query.order_by(Overpayment.period)))


# --------------------------------------------------------------------------- staff channels


def record_channel_result(
    session: Session,
    resident_id: int,
    *,
    channel: str,
    outcome: str,
    day: dt.date,
    reference: str,
    actor: str,
) -> Certified | StopOutcome:
    """A clerk at a service point or staff on a home visit saw the retiree (``alive``) or
    learnt of the death (``deceased``, recorded as negative evidence on ``day``)."""
    if channel not in STAFF_CHANNELS:
        raise InvalidInput(
            f"a staff channel is one of {', '.join(STAFF_CHANNELS)}", field="channel"
        )
    if outcome not in ("alive", "deceased"):
        raise InvalidInput("the outcome is alive or deceased", field="outcome")
    if day > _local_day(clock.now()):
        raise InvalidInput(f"{day} is in the future", field="day")
    reference = reference.strip()
    if not _REF.match(reference):
        raise InvalidInput("a reference is 1–64 letters, digits or . _ : -", field="reference")
    registry.get_resident(session, resident_id)
    if not _pensions_of(session, resident_id):
        raise NotFound(f"resident {resident_id} receives no basic pension; nothing to certify")
    source = f"staff:{channel}"
    if outcome == "deceased":
        return record_negative_evidence(
            session,
            resident_id,
            kind="death",
            occurred_on=day,
            source=source,
            source_ref=reference,
            actor=actor,
        )
    return _certify(
        session,
        resident_id,
        kind=channel,
        day=day,
        source=source,
        source_ref=reference,
        actor=actor,
    )


# --------------------------------------------------------------------------- identity providers

_M = TypeVar("_M", bound=BaseModel)


def _validated(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]), "reason": err["msg"]}
            for err in exc.errors()
        ]
        raise InvalidInput(
            "the signed result is malformed: "
            + "; ".join(f"{p['field']}: {p['reason']}" for p in problems),
            errors=problems,
        ) from None


def register_identity_provider(
    session: Session, *, code: str, name: str, algorithm: str, public_key_hex: str, actor: str
) -> IdentityProvider:
    """Register the public key of an identity provider whose face checks are accepted."""
    code = code.strip()
    if not _CODE.match(code):
        raise InvalidInput(
            "a provider code is 2–32 lower-case letters, digits or '-'", field="code"
        )
    if algorithm not in ALGORITHMS:
        raise InvalidInput(f"the algorithm is one of {', '.join(ALGORITHMS)}", field="algorithm")
    try:
        public_key = bytes.fromhex(public_key_hex.strip())
    except ValueError:
        raise InvalidInput("the public key is hex", field="public_key") from None
    expected = 64 if algorithm == "SM2" else 32  # SM2: x‖y, 32 bytes each
    if len(public_key) != expected:
        raise InvalidInput(
            f"an {algorithm} public key is {expected} bytes, this one is {len(public_key)}",
            field="public_key",
        )
    if session.scalar(select(IdentityProvider.id).where(IdentityProvider.code == code)):
        raise Conflict(f"identity provider {code} is already registered")
    provider = IdentityProvider(
        code=code,
        name=name.strip()[:64] or code,
        algorithm=algorithm,
        public_key=public_key.hex(),
        key_id=key_id_for(algorithm, public_key),
        active=True,
        registered_at=clock.now(),
        registered_by=actor[:64],
    )
    session.add(provider)
    session.flush()
    return provider


def list_identity_providers(session: Session) -> list[IdentityProvider]:
    return list(session.scalars(select(IdentityProvider).order_by(IdentityProvider.code)))


class FaceCheckResult(BaseModel):
    """What an identity provider signs: one face check (人脸识别) of one person."""

    model_config = ConfigDict(extra="forbid")

    check_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    person_ref: str = Field(min_length=1, max_length=32)
    outcome: str = Field(pattern=r"^(pass|fail)$")
    checked_at: dt.datetime
    liveness: bool


def sign_face_check(
    result: dict[str, Any], private_key: bytes, public_key: bytes, algorithm: str
) -> str:
    """How a provider signs (the provider's side, used by its SDK and the tests): hex signature
    over the sorted-key compact JSON of the result."""
    from yikatong.crypto.keyring import SigningKey

    key = SigningKey(
        city_code="idp",
        key_id=key_id_for(algorithm, public_key),  # type: ignore[arg-type]
        algorithm=algorithm,  # type: ignore[arg-type]
        private_key=private_key,
        public_key=public_key,
        not_before=clock.now(),
    )
    return key.sign(_canonical(result)).hex()


def accept_face_check(
    session: Session, *, provider_code: str, result: dict[str, Any], signature_hex: str
) -> Certified | None:
    """The identity provider's callback: verified against its registered key, then a passed
    check certifies the person (a failed one certifies nothing)."""
    provider = session.scalar(
        select(IdentityProvider).where(IdentityProvider.code == provider_code)
    )
    if provider is None or not provider.active:
        raise Forbidden(f"identity provider {provider_code!r} is not registered on this node")
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise Forbidden("the signature is not hex") from None
    key = VerifyKey(
        city_code="idp",
        key_id=provider.key_id,
        algorithm=provider.algorithm,  # type: ignore[arg-type]
        public_key=bytes.fromhex(provider.public_key),
        not_before=provider.registered_at,
    )
    if not key.verify(_canonical(result), signature):
        raise Forbidden(
            f"the signature does not verify with the key of {provider_code} ({provider.key_id}); "
            "the result was altered or signed by another key"
        )
    check = _validated(FaceCheckResult, result)
    checked_at = check.checked_at
    if checked_at.tzinfo is None:
        raise InvalidInput("checked_at needs a time zone", field="checked_at")
    now = clock.now()
    if checked_at > now + FACE_CHECK_SKEW or checked_at < now - FACE_CHECK_MAX_AGE:
        raise InvalidInput(
            f"the check of {checked_at.isoformat()} is outside the accepted window "
            f"(7 days back, 5 minutes ahead of {now.isoformat()})",
            field="checked_at",
        )
    resident = registry.get_by_person_ref(session, check.person_ref)
    if check.outcome != "pass" or not check.liveness:
        return None
    return _certify(
        session,
        resident.id,
        kind="app_face",
        day=_local_day(checked_at),
        source=f"idp:{provider.code}",
        source_ref=check.check_id,
        actor=f"idp:{provider.code}",
        details={"key_id": provider.key_id, "checked_at": checked_at.isoformat()},
    )


# --------------------------------------------------------------------------- other cities


class RemoteResult(BaseModel):
    """A certification done in another league city for a retiree of this one."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=r"^certification\.result$")
    home_city: str = Field(pattern=r"^\d{6}$")
    certifying_city: str = Field(pattern=r"^\d{6}$")
    person_ref: str = Field(min_length=1, max_length=32)
    certified_on: dt.date
    channel: str = Field(pattern=r"^(app_face|service_point|home_visit)$")
    outcome: str = Field(pattern=r"^(alive|deceased)$")
    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")


def sign_remote_result(result: dict[str, Any]) -> dict[str, Any]:
    """The payload this node sends: the result with this city's signature over it."""
    key = current_node.current().signing_key()
    return {"result": result, "key_id": key.key_id, "signature": key.sign(_canonical(result)).hex()}


def send_remote_certification(
    session: Session,
    *,
    home_city: str,
    person_ref: str,
    certified_on: dt.date,
    channel: str,
    outcome: str,
    reference: str,
) -> str:
    """Certify here a retiree of ``home_city`` and send the signed result (outbox, same
    transaction); returns the message id."""
    own = current_node.current().city_code
    if not _CITY.match(home_city) or home_city == own:
        raise InvalidInput("the home city is another league city's 6-digit code", field="home_city")
    result = RemoteResult(
        type=REMOTE_PAYLOAD,
        home_city=home_city,
        certifying_city=own,
        person_ref=person_ref,
        certified_on=certified_on,
        channel=channel,
        outcome=outcome,
        reference=reference,
    ).model_dump(mode="json")
    return federation.send(
        session, home_city, REMOTE_STREAM, REMOTE_PAYLOAD, sign_remote_result(result)
    )


def apply_remote_certification(
    session: Session, sender_city: str, payload: dict[str, Any]
) -> Certified | StopOutcome:
    """Accept a result certified in ``sender_city`` (federation inbox handler).

    Refused (``Forbidden``) unless the result is signed by a key the league file gives to
    ``sender_city`` and names that city as the certifier and this city as home.
    """
    node = current_node.current()
    if not isinstance(payload, dict) or not {"result", "key_id", "signature"} <= set(payload):
        raise InvalidInput("a remote certification carries result, key_id and signature")
    result, key_id, signature_hex = payload["result"], payload["key_id"], payload["signature"]
    if (
        not isinstance(result, dict)
        or not isinstance(key_id, str)
        or not isinstance(signature_hex, str)
    ):
        raise InvalidInput("result is an object, key_id and signature are strings")
    league = federation.league_of(node)
    key = league.trust.get(key_id)
    if key is None or key.city_code != sender_city:
        raise Forbidden(f"key {key_id} is not a key of city {sender_city} in the league file")
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise Forbidden("the signature is not hex") from None
    if not key.verify(_canonical(result), signature):
        raise Forbidden(f"the result's signature does not verify with {sender_city}'s key {key_id}")
    checked = _validated(RemoteResult, result)
    if checked.certifying_city != sender_city:
        raise Forbidden(
            f"the result says it was certified by {checked.certifying_city}, sent by {sender_city}"
        )
    if checked.home_city != node.city_code:
        raise Forbidden(
            f"the result is for city {checked.home_city}; this node is {node.city_code}"
        )
    if checked.certified_on > _local_day(clock.now()):
        raise InvalidInput(
            f"certified on {checked.certified_on}, in the future", field="certified_on"
        )
    resident = registry.get_by_person_ref(session, checked.person_ref)
    source = f"city:{sender_city}"
    if checked.outcome == "deceased":
        return record_negative_evidence(
            session,
            resident.id,
            kind="death",
            occurred_on=checked.certified_on,
            source=source,
            source_ref=checked.reference,
            actor=source,
        )
    return _certify(
        session,
        resident.id,
        kind="remote_city",
        day=checked.certified_on,
        source=source,
        source_ref=checked.reference,
        actor=source,
        details={"channel": checked.channel, "key_id": key_id},
    )


def _apply_remote_envelope(session: Session, envelope: Envelope) -> None:
    apply_remote_certification(session, envelope.sender, envelope.body)


federation.register_handler(REMOTE_PAYLOAD, _apply_remote_envelope)


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True, slots=True)
class RateRow:
    district_code: str
    retirees: int
    certified: int
    by_channel: dict[str, int]
    target_percent: int

    @property
    def rate(self) -> float:
        return self.certified / self.retirees if self.retirees else 1.0

    @property
    def meets_target(self) -> bool:
        # Integer comparison: certified/retirees ≥ target% without rounding.
        return self.certified * 100 >= self.target_percent * self.retirees


@dataclass(frozen=True, slots=True)
class RateReport:
    as_of: dt.date
    target_percent: int
    districts: list[RateRow]
    total: RateRow
    excluded_negative: int = 0
    channels: tuple[str, ...] = field(default=rules.CHANNELS)


def rate_report(
    session: Session, *, as_of: dt.date | None = None, allow_illustrative: bool
) -> RateReport:
    """Certification rate (认证率) by district and channel against the target (seed 000: ≥99%).

    Certified: evidence still valid on ``as_of`` (default: today). Retirees with negative
    evidence are out of the base (their pension is stopped, not waiting for certification).
    """
    day = as_of or _local_day(clock.now())
    policy = certification_policy(day.year, allow_illustrative=allow_illustrative)
    totals: dict[str, int] = defaultdict(int)
    certified: dict[str, int] = defaultdict(int)
    channels: dict[str, Counter[str]] = defaultdict(Counter)
    negative = 0
    for state in session.scalars(select(State)):
        if state.status == rules.STATUS_NEGATIVE:
            negative += 1
            continue
        totals[state.district_code] += 1
        if state.valid_until is not None and state.valid_until > day:
            certified[state.district_code] += 1
            channels[state.district_code][state.last_channel or "silent"] += 1
    target = policy.target_rate_percent
    rows = [RateRow(d, totals[d], certified[d], dict(channels[d]), target) for d in sorted(totals)]
    all_channels: Counter[str] = Counter()
    for counter in channels.values():
        all_channels.update(counter)
    total = RateRow(
        "all", sum(totals.values()), sum(certified.values()), dict(all_channels), target
    )
    return RateReport(day, target, rows, total, negative)


@dataclass(frozen=True, slots=True)
class WorkItem:
    resident_id: int
    name: str
    id_masked: str
    district_code: str
    address: str | None
    status: str
    stage: str | None
    last_positive_on: dt.date | None
    valid_until: dt.date | None


def expiring(
    session: Session,
    *,
    within_days: int | None = None,
    as_of: dt.date | None = None,
    allow_illustrative: bool,
) -> list[WorkItem]:
    """Retirees whose certification runs out within ``within_days`` (policy default)."""
    day = as_of or _local_day(clock.now())
    policy = certification_policy(day.year, allow_illustrative=allow_illustrative)
    days = policy.expiring_days if within_days is None else within_days
    if not 1 <= days <= 366:
        raise InvalidInput("within is 1–366 days", field="within")
    query = (
        select(State)
        .where(
            State.status != rules.STATUS_NEGATIVE,
            State.valid_until > day,
            State.valid_until <= day + dt.timedelta(days=days),
        )
        .order_by(State.valid_until, State.resident_id)
    )
    return [_item(session, s) for s in session.scalars(query)]


def work_list(
    session: Session, *, stage: str, district_code: str | None = None, limit: int = 5000
) -> dict[str, list[WorkItem]]:
    """Who each district must reach through ``stage`` (app_face, service_point, home_visit):
    retirees in that fallback stage, suspended ones included (they can still certify)."""
    if stage not in rules.STAGES:
        raise InvalidInput(f"the stage is one of {', '.join(rules.STAGES)}", field="stage")
    if district_code is not None and not _CITY.match(district_code):
        raise InvalidInput("a district code is 6 digits", field="district")
    query = select(State).where(
        State.stage == stage,
        State.status.in_([rules.STATUS_FALLBACK, rules.STATUS_SUSPEND]),
    )
    if district_code is not None:
        query = query.where(State.district_code == district_code)
    grouped: dict[str, list[WorkItem]] = defaultdict(list)
    order = query.order_by(State.district_code, State.valid_until, State.resident_id).limit(limit)
    for state in session.scalars(order):
        grouped[state.district_code].append(_item(session, state))
    return dict(grouped)


def _item(session: Session, state: State) -> WorkItem:
    resident = registry.get_resident(session, state.resident_id)
    return WorkItem(
        resident_id=state.resident_id,
        name=benefits.mask_name(resident.name),
        id_masked=resident.id_masked,
        district_code=state.district_code,
        address=resident.address,
        status=state.status,
        stage=state.stage,
        last_positive_on=state.last_positive_on,
        valid_until=state.valid_until,
    )
