"""Delegation to the city where the person lives (异地委托鉴定) and mutual recognition (结论互认):
Qingdao delegates, Yantai draws its panel and signs, Qingdao verifies Yantai's signature with the
league's keys and records the grade."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders
from tests.integration.appraisal._pool import EMPLOYER, pool, worker
from tests.integration.federation.conftest import League
from tests.integration.pensions._kit import YANTAI, deliver
from yikatong import node as node_module
from yikatong.api.auth import issue_token
from yikatong.appraisal import service
from yikatong.appraisal.models import CaseStatus
from yikatong.appraisal.policy import AppraisalKind, InjuryCategory
from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.node import Node


@pytest.fixture
def cities(
    fixed_clock: clock.FixedClock, node: Node, yantai_node: Node, league: League
) -> tuple[Node, Node]:
    node.settings.demo = yantai_node.settings.demo = True
    return node, yantai_node


def test_a_delegated_case_comes_back_with_a_verified_conclusion(cities: tuple[Node, Node]) -> None:
    qingdao, yantai = cities
    with qingdao.transaction() as session:
        person, number = worker(session)
        case = service.open_case(
            session,
            person,
            kind=AppraisalKind.INITIAL,
            category=InjuryCategory.LIMB,
            employer=EMPLOYER,
            actor="t",
        )
        with pytest.raises(InvalidInput):
            service.delegate(session, case.id, to_city="370200", actor="t")
        service.delegate(session, case.id, to_city=YANTAI, actor="clerk-qd")
        assert (case.status, case.delegated_to) == (CaseStatus.DELEGATED, YANTAI)
        with pytest.raises(Conflict):
            service.draw_panel(session, case.id, actor="t")
        case_id, case_ref = case.id, case.case_ref
    node_module.set_current(yantai)
    with yantai.transaction() as session:
        pool(session, city=YANTAI, prefix="YT")
        worker(session)  # the person lives in Yantai and is in its registry
    assert deliver(qingdao, yantai) == ["applied"]
    node_module.set_current(yantai)
    with yantai.transaction() as session:
        [there] = service.list_cases(session)
        assert (there.case_ref, there.delegated_from, there.status) == (
            case_ref,
            "370200",
            CaseStatus.OPEN,
        )
        service.draw_panel(session, there.id, actor="clerk-yt", seed="yt-1")
        with pytest.raises(Conflict):
            service.delegate(session, there.id, to_city="370700", actor="t")
        service.conclude(session, there.id, grade="5", actor="clerk-yt")
    assert deliver(yantai, qingdao) == ["applied"]
    node_module.set_current(qingdao)
    with qingdao.transaction() as session:
        back = service.get_case(session, case_id)
        assert (back.status, back.grade, back.concluded_by_city) == (
            CaseStatus.CONCLUDED,
            "5",
            YANTAI,
        )
        assert back.conclusion is not None
        verified = service.verify_conclusion(back.conclusion, service.trust_list())
        assert verified.digest == service.subject_digest(case_ref, number)
        assert verified.key_id == yantai.signing_key().key_id


def test_a_conclusion_of_another_city_is_recognised_over_http(
    cities: tuple[Node, Node], client: TestClient, auth: AuthHeaders
) -> None:
    qingdao, yantai = cities
    node_module.set_current(yantai)
    with yantai.transaction() as session:
        pool(session, city=YANTAI, prefix="YT")
        person, _ = worker(session)
        case = service.open_case(
            session,
            person,
            kind=AppraisalKind.NON_WORK,
            category=InjuryCategory.LIMB,
            employer=EMPLOYER,
            actor="t",
        )
        service.draw_panel(session, case.id, actor="t", seed="nw")
        document = service.conclude(session, case.id, grade="partial", actor="t").conclusion
    node_module.set_current(qingdao)
    clerk = auth("clerk")
    checked = client.post("/api/v1/appraisal/conclusions/verify", headers=clerk, json=document)
    assert checked.status_code == 200 and checked.json()["grade"] == "partial"
    forged = copy.deepcopy(document)
    assert forged is not None
    forged["grade"] = "complete"
    refused = client.post("/api/v1/appraisal/conclusions", headers=clerk, json=forged)
    assert (refused.status_code, refused.json()["reason"]) == (422, "tampered")
    assert client.get("/api/v1/appraisal/conclusions", headers=clerk).json() == []
    recognised = client.post("/api/v1/appraisal/conclusions", headers=clerk, json=document)
    assert recognised.status_code == 201, recognised.text
    assert recognised.json()["recognised"]["city_code"] == YANTAI
    again = client.post("/api/v1/appraisal/conclusions", headers=clerk, json=document)
    assert again.status_code == 201
    assert len(client.get("/api/v1/appraisal/conclusions", headers=clerk).json()) == 1
    with qingdao.transaction() as session:
        assert service.list_cases(session) == []  # recognised, not turned into a case here
    token = issue_token(qingdao, "auditor", ["auditor"])
    assert (
        client.post(
            "/api/v1/appraisal/conclusions",
            headers={"Authorization": f"Bearer {token}"},
            json=document,
        ).status_code
        == 403
    )


def test_a_city_shares_its_experts_and_the_other_city_draws_from_them(
    cities: tuple[Node, Node],
) -> None:
    qingdao, yantai = cities
    node_module.set_current(yantai)
    with yantai.transaction() as session:
        experts = pool(session, city=YANTAI, prefix="YT")
        with pytest.raises(InvalidInput):
            service.publish_pool(session, [YANTAI])
        assert service.publish_pool(session, ["370200"]) == 12
    assert deliver(yantai, qingdao) == ["applied"]
    node_module.set_current(qingdao)
    with qingdao.transaction() as session:
        assert service.pool_summary(session) == {YANTAI: 12}
        person, _ = worker(session)
        case = service.open_case(
            session,
            person,
            kind=AppraisalKind.INITIAL,
            category=InjuryCategory.HEAD,
            employer=EMPLOYER,
            actor="t",
        )
        with pytest.raises(Conflict, match="神经外科"):  # nobody in the shared pool has it
            service.draw_panel(session, case.id, actor="t", seed="s")
    node_module.set_current(yantai)
    with yantai.transaction() as session:
        service.set_expert_active(session, experts["骨科"][0], False)
        service.publish_pool(session, ["370200"])
    assert deliver(yantai, qingdao) == ["applied"]
    node_module.set_current(qingdao)
    with qingdao.transaction() as session:
        active = [e.code for e in service.list_experts(session, speciality="骨科") if e.active]
        assert active == ["YT-骨科-1", "YT-骨科-2", "YT-骨科-3"]
        # a roster naming experts of another city is refused
        with pytest.raises(InvalidInput):
            service.apply_roster(
                session,
                YANTAI,
                {"experts": [{"code": "WF-1", "city_code": "370700", "specialities": ["骨科"]}]},
            )
