"""The league's scenario catalogue file (seed 003: 6 domains, 26 scenarios)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from yikatong.core.errors import NotFound, PolicyError
from yikatong.core.policy import packaged_policy_path
from yikatong.federation.catalogue import load_catalogue

CATALOGUE = load_catalogue(allow_illustrative=True)


def test_six_domains_and_twenty_six_scenarios() -> None:
    assert CATALOGUE.domains == ["人社", "医保", "交通", "文旅", "政务惠民", "金融"]
    assert len(CATALOGUE.scenarios) == 26
    assert {s.domain for s in CATALOGUE.scenarios} == set(CATALOGUE.domains)


def test_the_scenarios_the_seed_names_are_listed() -> None:
    names = {s.name for s in CATALOGUE.scenarios}
    # seed 003: 挂号、就诊、购药、住院结算 … 乘坐公交地铁，代缴高速ETC费用 … 图书借阅、便民缴费
    for name in ("挂号", "就诊", "购药", "住院结算", "乘坐公交", "乘坐地铁", "代缴高速ETC费用"):
        assert name in names
    assert {"图书借阅", "便民缴费", "工伤认定", "社保转移"} <= names


def test_each_city_publishes_whose_cards_it_accepts_with_its_own_terms() -> None:
    qingdao = CATALOGUE.offers_of("370200")
    scenario, bus = qingdao["transport.bus"]
    assert scenario.domain == "交通"
    assert bus.accepts == ["370100", "410100"]
    assert bus.terms == {"elderly_free_from_age": 70}
    assert qingdao["culture.library"][1].accepts == ["370100", "410100"]  # the default
    assert qingdao["benefits.subsidy-payout"][1].accepts == []
    assert CATALOGUE.offers_of("410100")["transport.etc"][1].accepts == []
    with pytest.raises(NotFound):
        CATALOGUE.offers_of("110100")


def test_the_illustrative_catalogue_is_refused_outside_the_demo() -> None:
    with pytest.raises(PolicyError) as refused:
        load_catalogue()
    assert "scenarios[5].name" in refused.value.detail


def test_a_publication_naming_an_unknown_scenario_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(packaged_policy_path("federation", "catalogue.yaml").read_text("utf-8"))
    data["publications"]["370200"]["scenarios"]["transport.ferry"] = {"accepts": ["370100"]}
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError) as refused:
        load_catalogue(path, allow_illustrative=True)
    assert "transport.ferry" in refused.value.detail
