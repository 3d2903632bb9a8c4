"""Panels drawn at random from the pool with recorded seeds and exclusions (回避), redrawn when an
expert declines, and concluded with a conclusion signed by this city's key."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.integration.appraisal._pool import EMPLOYER, pool, worker
from tests.integration.pensions._kit import enrol, person_id
from yikatong.appraisal import service
from yikatong.appraisal.models import CaseStatus, Expert, PanelSeat, SeatStatus
from yikatong.appraisal.policy import AppraisalKind, InjuryCategory
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.node import Node
from yikatong.registry import service as registry
from yikatong.registry.models import RelationType

LIMB = InjuryCategory.LIMB


def _open(session: object, person: int) -> int:
    return service.open_case(
        session, person, kind=AppraisalKind.INITIAL, category=LIMB, employer=EMPLOYER, actor="t"
    ).id  # type: ignore[arg-type]


def test_conflicted_experts_are_excluded_and_the_reason_recorded(demo_node: Node) -> None:
    import datetime as dt

    with demo_node.transaction() as session:
        experts = pool(session, per=5)
        person, _ = worker(session)
        bone = experts["骨科"]
        # same employer; the person's wife; a declared conflict
        session.get(Expert, bone[0]).employer = EMPLOYER  # type: ignore[union-attr]
        wife = enrol(session, person_id(dt.date(1984, 1, 1), 42), "钱红")
        registry.add_relative(session, person, wife, RelationType.SPOUSE, actor="t")
        session.get(Expert, bone[1]).resident_id = wife  # type: ignore[union-attr]
        service.declare_conflict(session, bone[2], reason="曾为其主治医生", resident_id=person)
        case_id = _open(session, person)
        seats = service.draw_panel(session, case_id, actor="t", seed="qd-2025-0001")
        assert [s.speciality for s in seats] == ["骨科", "骨科", "康复医学"]
        first, second = seats[0], seats[1]
        assert first.candidates == [bone[3], bone[4]]
        assert first.excluded == {
            str(bone[0]): f"same employer ({EMPLOYER})",
            str(bone[1]): "relative of the person (spouse)",
            str(bone[2]): "declared conflict: 曾为其主治医生",
        }
        assert {first.expert_id, second.expert_id} == {bone[3], bone[4]}
        assert second.excluded[str(first.expert_id)] == "already drawn for this case"


def test_a_seat_with_no_eligible_expert_refuses_the_draw(demo_node: Node) -> None:
    with demo_node.transaction() as session:
        experts = pool(session, per=1)  # one 骨科 expert for two 骨科 seats
        person, _ = worker(session)
        case_id = _open(session, person)
        del experts
    with (
        pytest.raises(Conflict, match="no eligible 骨科 expert"),
        demo_node.transaction() as session,
    ):
        service.draw_panel(session, case_id, actor="t", seed="x")
    with demo_node.transaction() as session:
        case = service.get_case(session, case_id)
        assert (case.status, case.seed) == (CaseStatus.OPEN, None)
        assert session.scalars(select(PanelSeat)).all() == []


def test_the_same_seed_draws_the_same_panel_and_the_draw_replays(demo_node: Node) -> None:
    with demo_node.transaction() as session:
        pool(session, per=6)
        person, _ = worker(session)
        one, two = _open(session, person), _open(session, person)
        a = [s.expert_id for s in service.draw_panel(session, one, actor="t", seed="seed-17")]
        b = [s.expert_id for s in service.draw_panel(session, two, actor="t", seed="seed-17")]
        assert a == b and len(set(a)) == 3
        assert service.verify_draw(session, one) == []
        with pytest.raises(Conflict):
            service.draw_panel(session, one, actor="t", seed="again")
        # a recorded result that the seed does not give is caught
        seat = session.scalars(select(PanelSeat).where(PanelSeat.case_id == one)).first()
        assert seat is not None
        seat.expert_id = next(c for c in seat.candidates if c != seat.expert_id)
        assert len(service.verify_draw(session, one)) == 1


def test_a_declining_expert_is_replaced_by_a_redraw(demo_node: Node) -> None:
    with demo_node.transaction() as session:
        experts = pool(session, per=3)
        person, _ = worker(session)
        case_id = _open(session, person)
        seats = service.draw_panel(session, case_id, actor="t", seed="d")
        rehab = seats[2]
        replacement = service.decline_seat(session, case_id, 3, reason="出差", actor="t")
        assert (replacement.seat_no, replacement.round) == (3, 2)
        assert replacement.expert_id != rehab.expert_id
        assert replacement.expert_id in experts["康复医学"]
        assert (rehab.status, rehab.decline_reason) == (SeatStatus.DECLINED, "出差")
        assert len(service.panel(session, case_id)) == 3
        assert service.verify_draw(session, case_id) == []
        service.decline_seat(session, case_id, 3, reason="生病", actor="t")
        seated = [s.expert_id for s in service.panel(session, case_id)]
    # all three 康复医学 experts have been drawn: no redraw possible, nothing changes
    with pytest.raises(Conflict), demo_node.transaction() as session:
        service.decline_seat(session, case_id, 3, reason="又出差", actor="t")
    with demo_node.transaction() as session:
        assert [s.expert_id for s in service.panel(session, case_id)] == seated
        with pytest.raises(NotFound):
            service.decline_seat(session, case_id, 7, reason="x", actor="t")
        with pytest.raises(InvalidInput):
            service.decline_seat(session, case_id, 3, reason=" ", actor="t")


def test_the_own_city_rule_excludes_local_experts_when_the_policy_says_so(demo_node: Node) -> None:
    with demo_node.transaction() as session:
        pool(session, per=1)
        yantai = service.add_expert(
            session,
            code="YT-1",
            name="孙",
            city_code="370600",
            employer="烟台山医院",
            specialities=["骨科"],
            actor="t",
        )
        person, _ = worker(session)
        case = service.get_case(session, _open(session, person))
        strict = service.policy().model_copy(update={"exclude_own_city": True})
        local = session.scalars(select(Expert).where(Expert.city_code == "370200")).first()
        assert local is not None
        assert service.conflicts_of(session, local, case, strict) == [
            "expert of the appraising city 370200"
        ]
        assert service.conflicts_of(session, yantai, case, strict) == []
        assert service.conflicts_of(session, local, case, service.policy()) == []


def test_a_conclusion_is_signed_and_verifies_with_this_citys_key(demo_node: Node) -> None:
    with demo_node.transaction() as session:
        pool(session)
        person, number = worker(session)
        case_id = _open(session, person)
        with pytest.raises(Conflict):
            service.conclude(session, case_id, grade="7", actor="t")  # no panel yet
        service.draw_panel(session, case_id, actor="t", seed="c")
        with pytest.raises(InvalidInput):
            service.conclude(session, case_id, grade="11", actor="t")
        with pytest.raises(InvalidInput):
            service.conclude(session, case_id, grade="partial", actor="t")  # a work-injury case
        case = service.conclude(session, case_id, grade="7", actor="t")
        assert (case.status, case.grade, case.concluded_by_city) == (
            CaseStatus.CONCLUDED,
            "7",
            "370200",
        )
        document = case.conclusion
        assert document is not None and len(document["panel"]) == 3
        with pytest.raises(Conflict):
            service.conclude(session, case_id, grade="6", actor="t")
    verified = service.verify_conclusion(document, demo_node.own_trust_list())
    assert (verified.grade, verified.id_masked) == ("7", number[:6] + "********" + number[-4:])
    assert verified.digest == service.subject_digest(case.case_ref, number)
    with pytest.raises(service.ConclusionRefused):
        service.verify_conclusion({**document, "grade": "1"}, demo_node.own_trust_list())
