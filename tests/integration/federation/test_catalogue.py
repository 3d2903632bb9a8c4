"""Publishing the scenario catalogue to the league and checking it before accepting a card."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.integration.federation.conftest import QINGDAO, WEIFANG, YANTAI, League
from yikatong.core.errors import InvalidInput
from yikatong.core.money import Fen
from yikatong.federation import acceptance
from yikatong.federation.catalogue import (
    Catalogue,
    catalogue_of,
    check_scenario,
    load_catalogue,
    publish_catalogue,
)
from yikatong.federation.dispatcher import dispatch_once
from yikatong.node import Node

# The dispatcher passes its HTTP timeout, which Starlette's TestClient ignores with a warning.
pytestmark = pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument")


PACKAGED = load_catalogue(allow_illustrative=True)
# The Jiaodong cities of the test league, with the scenarios of the packaged catalogue.
JIAODONG = Catalogue.model_validate(
    {
        **PACKAGED.model_dump(),
        "publications": {
            QINGDAO: {
                "name": "青岛",
                "default_accepts": [YANTAI, WEIFANG],
                "scenarios": {
                    "transport.bus": {
                        "accepts": [YANTAI, WEIFANG],
                        "terms": {"elderly_free_from_age": 70},
                    },
                    "finance.cash": {"accepts": [YANTAI]},
                },
            },
            YANTAI: {"name": "烟台", "default_accepts": [QINGDAO]},
        },
    }
)


def test_a_published_catalogue_reaches_the_other_cities(
    node: Node, yantai_node: Node, league: League, client: TestClient
) -> None:
    members = frozenset({QINGDAO, YANTAI, WEIFANG})
    with yantai_node.transaction() as session:
        assert publish_catalogue(session, YANTAI, members, JIAODONG) == 26
    report = dispatch_once(yantai_node, client)
    # Weifang runs no node in this test: its copy waits in the outbox, Qingdao's is delivered.
    assert (report.sent, report.failed) == (1, 1)
    assert report.errors[0].startswith(f"{WEIFANG}/catalogue seq 1: HTTP 421")
    with node.transaction() as session:
        copy = catalogue_of(session, YANTAI)
        assert len(copy) == 26
        assert {row.domain for row in copy} == {"人社", "医保", "交通", "文旅", "政务惠民", "金融"}
        verdict = check_scenario(
            session, city_code=YANTAI, scenario="culture.scenic-spot", card_city=QINGDAO
        )
    assert verdict.accepted
    assert verdict.reason == "A级旅游景区购票入园 accepts cards of 370200"


def test_the_catalogue_is_checked_before_a_card_is_accepted(node: Node, league: League) -> None:
    with node.transaction() as session:
        publish_catalogue(session, QINGDAO, frozenset({QINGDAO, YANTAI, WEIFANG}), JIAODONG)
        bus = check_scenario(session, city_code=QINGDAO, scenario="transport.bus", card_city=YANTAI)
        cash = check_scenario(
            session, city_code=QINGDAO, scenario="finance.cash", card_city=WEIFANG
        )
        ferry = check_scenario(
            session, city_code=QINGDAO, scenario="transport.ferry", card_city=YANTAI
        )
        unpublished = check_scenario(
            session, city_code=YANTAI, scenario="transport.bus", card_city=QINGDAO
        )
    assert (bus.accepted, bus.terms) == (True, {"elderly_free_from_age": 70})
    assert (cash.accepted, cash.reason) == (
        False,
        "存取现金 in 370200 does not accept cards of 370700",
    )
    assert (ferry.accepted, ferry.reason) == (
        False,
        "transport.ferry is not a scenario of the catalogue",
    )
    assert (unpublished.accepted, unpublished.reason) == (
        False,
        "city 370600 has published no catalogue",
    )

    policy = acceptance.load_acceptance_policy(allow_illustrative=True)

    def never_called(request: httpx.Request) -> httpx.Response:
        raise AssertionError("the issuer must not be asked for a scenario not accepted here")

    refused = acceptance.authorise(
        node,
        issuer_city=WEIFANG,
        instrument="card",
        card_ref="wf-0001",
        amount=Fen(10_000),
        scenario="finance.cash",
        policy=policy,
        client=httpx.Client(transport=httpx.MockTransport(never_called)),
    )
    assert (refused.decision, refused.mode) == ("declined", "catalogue")
    with node.transaction() as session, pytest.raises(InvalidInput) as invalid:
        check_scenario(session, city_code=QINGDAO, scenario="transport.bus", card_city="3706")
    assert invalid.value.field == "card_city"
