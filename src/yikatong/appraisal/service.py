"""Labour-capacity appraisal (劳动能力鉴定) on a pool of experts shared by the league's cities.

* **Pool**: each city keeps its own experts and publishes them to the others (payload
  ``appraisal.experts``); a received roster adds or updates that city's experts by code.
* **Panel**: the policy gives one speciality per seat for the kind of appraisal and the injury
  category (3 or 5 seats). Each seat is drawn at random among the eligible experts of its
  speciality with ``random.Random(f"{seed}:{seat}:{round}")`` over the candidates in id order;
  the seed, the candidates and the exclusions are recorded, so anyone can replay the draw
  (:func:`verify_draw`). An expert who declines keeps their row; the seat is drawn again in the
  next round without them.
* **Exclusions** (回避): the same employer as the person's; a relative of the person per the
  registry (or the person themself); a conflict the expert declared; the expert's own city when
  the policy says so.
* **Conclusion**: the grade with the panel, signed with this city's node key for the panel
  (SM2 or Ed25519, canonical JSON). Any city holding our public key (the league file) verifies it
  with :func:`verify_conclusion` and recognises it (结论互认).
* **Delegation** (异地委托鉴定): a city sends the case to the city where the person lives
  (payload ``appraisal.delegation``); that city draws its panel, concludes and sends the signed
  conclusion back (payload ``appraisal.conclusion``), which the first city verifies and records.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.appraisal.models import (
    AppraisalCase,
    CaseStatus,
    Expert,
    ExpertConflict,
    PanelSeat,
    RecognisedConclusion,
    SeatStatus,
)
from yikatong.appraisal.policy import (
    AppraisalKind,
    AppraisalPolicy,
    InjuryCategory,
    load_appraisal_policy,
)
from yikatong.core import clock, outbox
from yikatong.core.errors import Conflict, DomainError, InvalidInput, NotFound
from yikatong.core.ids import mask_resident_id
from yikatong.crypto.keyring import TrustList
from yikatong.crypto.sm3 import sm3
from yikatong.federation import service as federation_service
from yikatong.federation.envelope import Envelope
from yikatong.federation.league import canonical_json
from yikatong.registry import service as registry

STREAM = "appraisal"
DELEGATION_PAYLOAD = "appraisal.delegation"
CONCLUSION_PAYLOAD = "appraisal.conclusion"
CONCLUSION_FORMAT = "yikatong.appraisal-conclusion"
CONCLUSION_VERSION = 1
# GB/T 16180: work-injury disability grades 1 (most severe) to 10, or not graded (未达级);
# non-work appraisal: complete, major or partial loss of labour capacity, or none.
WORK_GRADES = (*(str(g) for g in range(1, 11)), "none")
NON_WORK_GRADES = ("complete", "major", "partial", "none")


class ConclusionRefused(DomainError):
    """A conclusion document that is malformed, tampered or signed by a key not trusted here."""

    status = 422
    slug = "conclusion-refused"
    title = "Conclusion refused"
    exit_code = 8

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


def _own_city() -> str:
    return current_node.current().city_code


def policy() -> AppraisalPolicy:
    node = current_node.current()
    return load_appraisal_policy(clock.today().year, allow_illustrative=node.settings.demo)


def _city(value: str, field: str) -> str:
    value = value.strip()
    if len(value) != 6 or not value.isdigit():
        raise InvalidInput("a city code is 6 digits (GB/T 2260)", field=field)
    return value


def _employer(value: str, field: str = "employer") -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > 100:
        raise InvalidInput("an employer name has 1–100 characters", field=field)
    return cleaned


def _note(case: AppraisalCase, text: str) -> None:
    case.history = [*case.history, f"{clock.today()}: {text}"]


# --------------------------------------------------------------------------- expert pool


def add_expert(
    session: Session,
    *,
    code: str,
    name: str,
    city_code: str,
    employer: str,
    specialities: list[str],
    actor: str,
    resident_id: int | None = None,
) -> Expert:
    """Add an expert to the shared pool (鉴定专家库)."""
    code = code.strip()
    if not code or len(code) > 32 or not all(c.isalnum() or c in "-_" for c in code):
        raise InvalidInput("an expert code is 1–32 letters, digits, '-' or '_'", field="code")
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidInput("an expert name has 1–64 characters", field="name")
    cleaned = sorted({s.strip() for s in specialities if s.strip()})
    if not cleaned or any(len(s) > 32 for s in cleaned):
        raise InvalidInput(
            "give at least one speciality (up to 32 characters each)", field="specialities"
        )
    if resident_id is not None:
        registry.get_resident(session, resident_id)
    if session.scalar(select(Expert.id).where(Expert.code == code)) is not None:
        raise Conflict(f"expert {code} is already in the pool")
    expert = Expert(
        code=code,
        name=name,
        city_code=_city(city_code, "city_code"),
        employer=_employer(employer),
        specialities=cleaned,
        resident_id=resident_id,
        active=True,
        created_at=clock.now(),
        created_by=actor[:64],
    )
    session.add(expert)
    session.flush()
    return expert


def get_expert(session: Session, expert_id: int) -> Expert:
    expert = session.get(Expert, expert_id)
    if expert is None:
        raise NotFound(f"no expert {expert_id} in the pool")
    return expert


def set_expert_active(session: Session, expert_id: int, active: bool) -> Expert:
    expert = get_expert(session, expert_id)
    expert.active = active
    session.flush()
    return expert


def list_experts(
    session: Session, *, speciality: str | None = None, city_code: str | None = None
) -> list[Expert]:
    query = select(Expert).order_by(Expert.id)
    if city_code:
        query = query.where(Expert.city_code == _city(city_code, "city_code"))
    experts = list(session.scalars(query))
    if speciality:
        experts = [e for e in experts if speciality.strip() in e.specialities]
    return experts


def declare_conflict(
    session: Session,
    expert_id: int,
    *,
    reason: str,
    resident_id: int | None = None,
    employer: str | None = None,
) -> ExpertConflict:
    """Record a conflict an expert declared, with a person or with an employer."""
    get_expert(session, expert_id)
    if (resident_id is None) == (employer is None):
        raise InvalidInput("a conflict names either a resident or an employer", field="resident_id")
    if resident_id is not None:
        registry.get_resident(session, resident_id)
    reason = reason.strip()
    if not reason or len(reason) > 200:
        raise InvalidInput("say what the conflict is (1–200 characters)", field="reason")
    conflict = ExpertConflict(
        expert_id=expert_id,
        resident_id=resident_id,
        employer=_employer(employer) if employer is not None else None,
        reason=reason,
        declared_at=clock.now(),
    )
    session.add(conflict)
    session.flush()
    return conflict


ROSTER_PAYLOAD = "appraisal.experts"


def _roster_entry(expert: Expert) -> dict[str, Any]:
    return {
        "code": expert.code,
        "name": expert.name,
        "city_code": expert.city_code,
        "employer": expert.employer,
        "specialities": list(expert.specialities),
        "active": expert.active,
    }


def publish_pool(session: Session, receivers: list[str]) -> int:
    """Send this city's own experts to other cities (专家库资源共享); returns how many."""
    own = _own_city()
    cities = sorted({_city(c, "receivers") for c in receivers})
    if not cities or own in cities:
        raise InvalidInput("name one or more other cities to publish to", field="receivers")
    roster = [
        _roster_entry(e)
        for e in session.scalars(select(Expert).where(Expert.city_code == own).order_by(Expert.id))
    ]
    for city in cities:
        outbox.enqueue(session, city, STREAM, ROSTER_PAYLOAD, {"experts": roster})
    return len(roster)


def apply_roster(session: Session, sender: str, body: dict[str, Any]) -> int:
    """Take ``sender``'s experts into the pool: added or updated by code; the sender's experts
    missing from the roster are deactivated. Only experts of the sender's own city are taken."""
    items = body.get("experts")
    if not isinstance(items, list):
        raise InvalidInput("an expert roster carries a list of experts", field="experts")
    seen = set()
    for item in items:
        if not isinstance(item, dict) or item.get("city_code") != sender:
            raise InvalidInput(f"city {sender} may publish its own experts only", field="experts")
        code = str(item.get("code", ""))
        specialities = item.get("specialities")
        if not isinstance(specialities, list):
            raise InvalidInput(f"expert {code}: specialities must be a list", field="experts")
        existing = session.scalar(select(Expert).where(Expert.code == code))
        if existing is None:
            existing = add_expert(
                session,
                code=code,
                name=str(item.get("name", "")),
                city_code=sender,
                employer=str(item.get("employer", "")),
                specialities=[str(x) for x in specialities],
                actor=f"city:{sender}",
            )
        elif existing.city_code != sender:
            raise Conflict(f"expert code {code} belongs to city {existing.city_code} here")
        else:
            existing.name = str(item.get("name", existing.name))[:64]
            existing.employer = _employer(str(item.get("employer", "")))
            existing.specialities = sorted({str(x).strip() for x in specialities if str(x).strip()})
        existing.active = bool(item.get("active", True))
        seen.add(code)
    for expert in session.scalars(select(Expert).where(Expert.city_code == sender)):
        if expert.code not in seen:
            expert.active = False
    session.flush()
    return len(seen)


# --------------------------------------------------------------------------- cases


def get_case(session: Session, case_id: int, *, lock: bool = False) -> AppraisalCase:
    """A case; ``lock`` holds its row until commit (one draw, one conclusion at a time)."""
    case = session.get(AppraisalCase, case_id, with_for_update=lock)
    if case is None:
        raise NotFound(f"no appraisal case {case_id}")
    return case


def list_cases(session: Session, *, status: CaseStatus | None = None) -> list[AppraisalCase]:
    query = select(AppraisalCase).order_by(AppraisalCase.id.desc())
    if status is not None:
        query = query.where(AppraisalCase.status == status)
    return list(session.scalars(query))


def open_case(
    session: Session,
    resident_id: int,
    *,
    kind: AppraisalKind,
    category: InjuryCategory,
    employer: str,
    actor: str,
) -> AppraisalCase:
    """Open an appraisal case (劳动能力鉴定申请) for a resident of this city's registry."""
    registry.get_resident(session, resident_id)
    policy()  # refuse now, not at the draw, when no policy is in force
    case = AppraisalCase(
        case_ref=str(uuid.uuid4()),
        kind=kind,
        category=category,
        status=CaseStatus.OPEN,
        resident_id=resident_id,
        employer=_employer(employer),
        opened_on=clock.today(),
        history=[],
        created_at=clock.now(),
        created_by=actor[:64],
    )
    _note(case, f"opened by {actor[:40]}: {kind.value} appraisal, {category.value}")
    session.add(case)
    session.flush()
    return case


def conflicts_of(
    session: Session, expert: Expert, case: AppraisalCase, rules: AppraisalPolicy
) -> list[str]:
    """Why ``expert`` may not sit on ``case``'s panel (empty when eligible)."""
    reasons = []
    if expert.employer == case.employer:
        reasons.append(f"same employer ({case.employer})")
    if expert.resident_id is not None:
        if expert.resident_id == case.resident_id:
            reasons.append("is the person appraised")
        else:
            relation = registry.relation_between(session, case.resident_id, expert.resident_id)
            if relation is not None:
                reasons.append(f"relative of the person ({relation.value})")
    declared = session.scalars(
        select(ExpertConflict).where(
            ExpertConflict.expert_id == expert.id,
            (ExpertConflict.resident_id == case.resident_id)
            | (ExpertConflict.employer == case.employer),
        )
    ).first()
    if declared is not None:
        reasons.append(f"declared conflict: {declared.reason}")
    if rules.exclude_own_city and expert.city_code == _own_city():
        reasons.append(f"expert of the appraising city {expert.city_code}")
    return reasons


def pick(seed: str, seat_no: int, round_no: int, candidates: list[int]) -> int:
    """The reproducible draw: one of ``candidates`` (ids in ascending order)."""
    rng = random.Random(f"{seed}:{seat_no}:{round_no}")
    return candidates[rng.randrange(len(candidates))]


def _seats(session: Session, case_id: int) -> list[PanelSeat]:
    return list(
        session.scalars(
            select(PanelSeat)
            .where(PanelSeat.case_id == case_id)
            .order_by(PanelSeat.seat_no, PanelSeat.round)
        )
    )


def seats_of(session: Session, case_id: int) -> list[PanelSeat]:
    """Every draw of a case's panel, declined ones included, by seat and round."""
    return _seats(session, case_id)


def panel(session: Session, case_id: int) -> list[PanelSeat]:
    """The seated experts, one per seat."""
    return [s for s in _seats(session, case_id) if s.status is SeatStatus.SEATED]


def _draw_seat(
    session: Session,
    case: AppraisalCase,
    rules: AppraisalPolicy,
    seed: str,
    seat_no: int,
    round_no: int,
    speciality: str,
    taken: set[int],
) -> PanelSeat:
    excluded: dict[str, str] = {}
    candidates: list[int] = []
    for expert in session.scalars(select(Expert).order_by(Expert.id)):
        if speciality not in expert.specialities:
            continue
        if not expert.active:
            excluded[str(expert.id)] = "inactive"
        elif expert.id in taken:
            excluded[str(expert.id)] = "already drawn for this case"
        elif reasons := conflicts_of(session, expert, case, rules):
            excluded[str(expert.id)] = "; ".join(reasons)
        else:
            candidates.append(expert.id)
    if not candidates:
        raise Conflict(
            f"no eligible {speciality} expert left for seat {seat_no} of case {case.id} "
            f"({len(excluded)} excluded); add experts to the pool"
        )
    seat = PanelSeat(
        case_id=case.id,
        seat_no=seat_no,
        round=round_no,
        speciality=speciality,
        expert_id=pick(seed, seat_no, round_no, candidates),
        candidates=candidates,
        excluded=excluded,
        status=SeatStatus.SEATED,
        drawn_at=clock.now(),
    )
    taken.add(seat.expert_id)
    return seat


def draw_panel(
    session: Session, case_id: int, *, actor: str, seed: str | None = None
) -> list[PanelSeat]:
    """Draw the panel of a case (随机抽取专家); ``seed`` makes the draw reproducible (a random
    one is chosen and recorded when absent)."""
    case = get_case(session, case_id, lock=True)
    if case.status is not CaseStatus.OPEN:
        raise Conflict(f"case {case_id} is {case.status.value}; its panel is drawn only once")
    if seed is not None and (not seed.strip() or len(seed) > 64):
        raise InvalidInput("a seed has 1–64 characters", field="seed")
    rules = policy()
    chosen = seed.strip() if seed else secrets.token_hex(8)
    taken: set[int] = set()
    # Every seat is drawn before anything is written: a seat nobody can fill changes nothing.
    seats = [
        _draw_seat(session, case, rules, chosen, number, 1, speciality, taken)
        for number, speciality in enumerate(rules.seats(case.kind, case.category), start=1)
    ]
    session.add_all(seats)
    case.seed = chosen
    case.status = CaseStatus.PANEL
    _note(case, f"panel of {len(seats)} drawn by {actor[:40]} with seed {case.seed}")
    session.flush()
    return seats


def decline_seat(
    session: Session, case_id: int, seat_no: int, *, reason: str, actor: str
) -> PanelSeat:
    """An expert declines (or is withdrawn): the seat is drawn again without them."""
    case = get_case(session, case_id, lock=True)
    if case.status is not CaseStatus.PANEL:
        raise Conflict(f"case {case_id} is {case.status.value}; no panel seat can change")
    reason = reason.strip()
    if not reason or len(reason) > 200:
        raise InvalidInput("say why the expert declines (1–200 characters)", field="reason")
    rows = _seats(session, case_id)
    current = next(
        (s for s in rows if s.seat_no == seat_no and s.status is SeatStatus.SEATED), None
    )
    if current is None:
        raise NotFound(f"case {case_id} has no seat {seat_no}")
    taken = {s.expert_id for s in rows}  # seated and declined experts of this case
    assert case.seed is not None
    replacement = _draw_seat(
        session, case, policy(), case.seed, seat_no, current.round + 1, current.speciality, taken
    )
    session.add(replacement)
    current.status = SeatStatus.DECLINED
    current.decline_reason = reason
    _note(
        case,
        f"seat {seat_no}: expert {current.expert_id} declined ({reason}); redrawn by "
        f"{actor[:40]}: expert {replacement.expert_id}",
    )
    session.flush()
    return replacement


def verify_draw(session: Session, case_id: int) -> list[str]:
    """Replay every recorded draw from the seed and the recorded candidates; list mismatches."""
    case = get_case(session, case_id)
    problems = []
    for seat in _seats(session, case_id):
        if case.seed is None or not seat.candidates:
            problems.append(f"seat {seat.seat_no} round {seat.round}: nothing recorded")
            continue
        expected = pick(case.seed, seat.seat_no, seat.round, list(seat.candidates))
        if expected != seat.expert_id:
            problems.append(
                f"seat {seat.seat_no} round {seat.round}: recorded expert {seat.expert_id}, "
                f"the seed gives {expected}"
            )
    return problems


# --------------------------------------------------------------------------- conclusions


def _grade(kind: AppraisalKind, grade: str) -> str:
    grade = grade.strip().lower()
    allowed = NON_WORK_GRADES if kind is AppraisalKind.NON_WORK else WORK_GRADES
    if grade not in allowed:
        raise InvalidInput(
            f"a {kind.value} conclusion is one of {', '.join(allowed)}", field="grade"
        )
    return grade


def subject_digest(case_ref: str, id_number: str) -> str:
    """SM3 of case and ID number: the person is named without the ID number in the document."""
    return sm3(f"{case_ref}|{id_number.strip().upper()}".encode()).hex()


def sign_document(unsigned: dict[str, Any]) -> dict[str, Any]:
    """Sign a conclusion with this city's node key for the panel."""
    key = current_node.current().signing_key()
    body = {**unsigned, "key_id": key.key_id}
    return {**body, "signature": key.sign(canonical_json(body)).hex()}


def conclude(
    session: Session, case_id: int, *, grade: str, actor: str, staff_role: str = "clerk"
) -> AppraisalCase:
    """Record the panel's conclusion (鉴定结论) as a signed document; a delegated case sends it
    back to the delegating city in this transaction."""
    case = get_case(session, case_id, lock=True)
    if case.status is not CaseStatus.PANEL:
        raise Conflict(f"case {case_id} is {case.status.value}; only a case with a panel concludes")
    grade = _grade(case.kind, grade)
    seats = panel(session, case_id)
    experts = {
        e.id: e
        for e in session.scalars(select(Expert).where(Expert.id.in_([s.expert_id for s in seats])))
    }
    id_number = registry.reveal(
        session,
        case.resident_id,
        actor=actor,
        role=staff_role,
        fields=("id_number",),
        reason=f"劳动能力鉴定: signed conclusion of case {case.case_ref}",
    )["id_number"]
    today = clock.today()
    document = sign_document(
        {
            "format": CONCLUSION_FORMAT,
            "v": CONCLUSION_VERSION,
            "case_ref": case.case_ref,
            "city_code": _own_city(),
            "kind": case.kind.value,
            "category": case.category.value,
            "grade": grade,
            "concluded_on": today.isoformat(),
            "delegated_by": case.delegated_from,
            "subject": {
                "id_masked": mask_resident_id(id_number),
                "digest": subject_digest(case.case_ref, id_number),
            },
            "seed": case.seed,
            "panel": [
                {
                    "seat": s.seat_no,
                    "speciality": s.speciality,
                    "code": experts[s.expert_id].code,
                    "name": experts[s.expert_id].name,
                    "city_code": experts[s.expert_id].city_code,
                }
                for s in seats
            ],
        }
    )
    case.grade = grade
    case.conclusion = document
    case.concluded_on = today
    case.concluded_by_city = _own_city()
    case.status = CaseStatus.CONCLUDED
    _note(case, f"concluded by {actor[:40]}: grade {grade}, signed with key {document['key_id']}")
    if case.delegated_from is not None:
        outbox.enqueue(
            session, case.delegated_from, STREAM, CONCLUSION_PAYLOAD, {"document": document}
        )
        _note(case, f"conclusion sent back to city {case.delegated_from}")
    session.flush()
    return case


_DOCUMENT_FIELDS = frozenset(
    {
        "format",
        "v",
        "case_ref",
        "city_code",
        "kind",
        "category",
        "grade",
        "concluded_on",
        "delegated_by",
        "subject",
        "seed",
        "panel",
        "key_id",
        "signature",
    }
)


@dataclass(frozen=True)
class VerifiedConclusion:
    case_ref: str
    city_code: str
    kind: AppraisalKind
    grade: str
    concluded_on: dt.date
    id_masked: str
    digest: str
    key_id: str


def verify_conclusion(document: Any, trust: TrustList) -> VerifiedConclusion:
    """Verify a conclusion signed by any city whose public key is in ``trust``."""
    if not isinstance(document, dict) or set(document) != _DOCUMENT_FIELDS:
        raise ConclusionRefused(
            "malformed", f"a conclusion has exactly the fields {sorted(_DOCUMENT_FIELDS)}"
        )
    if document["format"] != CONCLUSION_FORMAT or document["v"] != CONCLUSION_VERSION:
        raise ConclusionRefused(
            "malformed", f"not a {CONCLUSION_FORMAT} v{CONCLUSION_VERSION} document"
        )
    try:
        subject = document["subject"]
        if not isinstance(subject, dict):
            raise ValueError("subject must be an object")
        kind = AppraisalKind(document["kind"])
        fields = [document[n] for n in ("case_ref", "city_code", "grade", "key_id", "signature")]
        if not all(isinstance(f, str) for f in fields):
            raise ValueError("case_ref, city_code, grade, key_id and signature are strings")
        concluded_on = dt.date.fromisoformat(str(document["concluded_on"]))
        signature = bytes.fromhex(document["signature"])
        signed = canonical_json({k: v for k, v in document.items() if k != "signature"})
        id_masked, digest = str(subject["id_masked"]), str(subject["digest"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConclusionRefused("malformed", f"conclusion field is invalid: {exc}") from None
    key = trust.get(document["key_id"])
    if key is None or key.city_code != document["city_code"]:
        raise ConclusionRefused(
            "unknown-signer",
            f"key {document['key_id']} is not a trusted key of city {document['city_code']}",
        )
    if not key.verify(signed, signature):
        raise ConclusionRefused("tampered", "the signature does not match the conclusion")
    if document["grade"] not in (
        NON_WORK_GRADES if kind is AppraisalKind.NON_WORK else WORK_GRADES
    ):
        raise ConclusionRefused(
            "malformed", f"grade {document['grade']!r} is not a {kind.value} grade"
        )
    return VerifiedConclusion(
        case_ref=document["case_ref"],
        city_code=document["city_code"],
        kind=kind,
        grade=document["grade"],
        concluded_on=concluded_on,
        id_masked=id_masked,
        digest=digest,
        key_id=document["key_id"],
    )


def trust_list() -> TrustList:
    """Keys this node accepts conclusions from: its own and, in a league, every member city's."""
    node = current_node.current()
    trust = node.own_trust_list()
    if node.settings.league_file is not None:
        for key in federation_service.league_of(node).trust.keys.values():
            trust.add(key)
    return trust


def recognise_conclusion(
    session: Session, document: Any, *, received_from: str, trust: TrustList | None = None
) -> AppraisalCase | RecognisedConclusion:
    """Verify another city's conclusion and recognise it: it concludes our case delegated to
    that city, or is kept as a recognised conclusion (结论互认). Idempotent per case."""
    verified = verify_conclusion(document, trust or trust_list())
    if verified.city_code == _own_city():
        raise InvalidInput(
            "this city's own conclusions are on its cases already", field="city_code"
        )
    case = session.scalar(select(AppraisalCase).where(AppraisalCase.case_ref == verified.case_ref))
    if case is not None:
        if case.delegated_to != verified.city_code:
            raise Conflict(
                f"case {case.id} ({verified.case_ref}) was not delegated to city {verified.city_code}"
            )
        if case.status is CaseStatus.CONCLUDED:
            return case
        case.grade = verified.grade
        case.conclusion = dict(document)
        case.concluded_on = verified.concluded_on
        case.concluded_by_city = verified.city_code
        case.status = CaseStatus.CONCLUDED
        _note(
            case,
            f"conclusion of city {verified.city_code} verified and recorded: grade {verified.grade}",
        )
        session.flush()
        return case
    existing = session.scalar(
        select(RecognisedConclusion).where(RecognisedConclusion.case_ref == verified.case_ref)
    )
    if existing is not None:
        return existing
    recognised = RecognisedConclusion(
        case_ref=verified.case_ref,
        city_code=verified.city_code,
        grade=verified.grade,
        id_masked=verified.id_masked,
        document=dict(document),
        received_at=clock.now(),
        received_from=received_from[:64],
    )
    session.add(recognised)
    session.flush()
    return recognised


def recognised_conclusions(session: Session) -> list[RecognisedConclusion]:
    return list(session.scalars(select(RecognisedConclusion).order_by(RecognisedConclusion.id)))


# --------------------------------------------------------------------------- delegation


def delegate(
    session: Session, case_id: int, *, to_city: str, actor: str, staff_role: str = "clerk"
) -> AppraisalCase:
    """Delegate an open case to the city where the person lives (异地委托鉴定)."""
    case = get_case(session, case_id, lock=True)
    to_city = _city(to_city, "to_city")
    if to_city == _own_city():
        raise InvalidInput("a case is delegated to another city", field="to_city")
    if case.status is not CaseStatus.OPEN or case.delegated_from is not None:
        raise Conflict(
            f"case {case_id} is {case.status.value}"
            + (f" (delegated by {case.delegated_from})" if case.delegated_from else "")
            + "; only an open case of this city is delegated"
        )
    id_number = registry.reveal(
        session,
        case.resident_id,
        actor=actor,
        role=staff_role,
        fields=("id_number",),
        reason=f"劳动能力鉴定: case {case.case_ref} delegated to city {to_city}",
    )["id_number"]
    outbox.enqueue(
        session,
        to_city,
        STREAM,
        DELEGATION_PAYLOAD,
        {
            "case_ref": case.case_ref,
            "id_number": id_number,
            "kind": case.kind.value,
            "category": case.category.value,
            "employer": case.employer,
            "opened_on": case.opened_on.isoformat(),
        },
    )
    case.status = CaseStatus.DELEGATED
    case.delegated_to = to_city
    _note(case, f"delegated to city {to_city} by {actor[:40]}")
    session.flush()
    return case


def apply_delegation(session: Session, sender: str, body: dict[str, Any]) -> AppraisalCase:
    """Take a case delegated by ``sender``: it opens here and runs like our own. A repeat of the
    same delegation changes nothing."""
    case_ref = body.get("case_ref")
    if not isinstance(case_ref, str) or len(case_ref) != 36:
        raise InvalidInput("delegation: case_ref is missing", field="case_ref")
    existing = session.scalar(select(AppraisalCase).where(AppraisalCase.case_ref == case_ref))
    if existing is not None:
        if existing.delegated_from != sender:
            raise Conflict(f"case {case_ref} exists here and was not delegated by {sender}")
        return existing
    try:
        kind = AppraisalKind(str(body.get("kind")))
        category = InjuryCategory(str(body.get("category")))
        opened_on = dt.date.fromisoformat(str(body.get("opened_on")))
    except ValueError as exc:
        raise InvalidInput(f"delegation: {exc}", field="kind") from None
    id_number = body.get("id_number")
    person = registry.find_by_id_number(session, id_number) if isinstance(id_number, str) else None
    if person is None:
        raise NotFound(
            f"delegation {case_ref} from city {sender}: no resident with that ID number here; "
            "enrol the person, then replay the message"
        )
    case = AppraisalCase(
        case_ref=case_ref,
        kind=kind,
        category=category,
        status=CaseStatus.OPEN,
        resident_id=person.id,
        employer=_employer(str(body.get("employer", ""))),
        opened_on=opened_on,
        delegated_from=sender,
        history=[],
        created_at=clock.now(),
        created_by=f"city:{sender}",
    )
    _note(case, f"delegated by city {sender} (opened there {opened_on})")
    session.add(case)
    session.flush()
    return case


def _apply_delegation_message(session: Session, envelope: Envelope) -> None:
    apply_delegation(session, envelope.sender, envelope.body)


def _apply_conclusion_message(session: Session, envelope: Envelope) -> None:
    document = envelope.body.get("document")
    if not isinstance(document, dict) or document.get("city_code") != envelope.sender:
        raise InvalidInput(
            "a conclusion message carries the sender's own signed conclusion", field="document"
        )
    recognise_conclusion(session, document, received_from=f"city:{envelope.sender}")


def _apply_roster_message(session: Session, envelope: Envelope) -> None:
    apply_roster(session, envelope.sender, envelope.body)


federation_service.register_handler(ROSTER_PAYLOAD, _apply_roster_message)
federation_service.register_handler(DELEGATION_PAYLOAD, _apply_delegation_message)
federation_service.register_handler(CONCLUSION_PAYLOAD, _apply_conclusion_message)


def pool_summary(session: Session) -> dict[str, int]:
    """Experts per city in the pool."""
    rows = session.execute(
        select(Expert.city_code, func.count()).group_by(Expert.city_code).order_by(Expert.city_code)
    )
    return {str(city): int(count) for city, count in rows}
