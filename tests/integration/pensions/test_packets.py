"""Packets of unfinished cases (未结业务数据包) as signed files between Qingdao and Yantai: applied
once, repeats change nothing, a tampered, misrouted or unknown-signer file is refused whole."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.integration.federation.conftest import League
from tests.integration.pensions._kit import QINGDAO, WEIFANG, YANTAI, enrol, person_id
from yikatong import node as node_module
from yikatong.core import clock
from yikatong.core.money import yuan
from yikatong.crypto.keyring import SigningKey
from yikatong.federation.league import canonical_json
from yikatong.node import Node
from yikatong.pensions import service
from yikatong.pensions.models import PensionRole, PensionTransfer, TransferStep

IDS = [person_id(dt.date(1990, 1, 1 + n), 21 + 2 * n) for n in range(4)]


@pytest.fixture
def packet(
    fixed_clock: clock.FixedClock, node: Node, yantai_node: Node, league: League
) -> dict[str, Any]:
    """Qingdao's packet for Yantai: three unfinished cases (one certified); one to Weifang."""
    with node.transaction() as session:
        people = [enrol(session, number) for number in IDS]
        for person in people:
            service.record_contribution(
                session, person, year=2024, months=12, monthly_base=yuan(5000), actor="t"
            )
        cases = [
            service.open_transfer(
                session, p, role=PensionRole.OLD_CITY, other_city_code=city, actor="t"
            )
            for p, city in zip(people, (YANTAI, YANTAI, YANTAI, WEIFANG), strict=True)
        ]
        service.advance(session, cases[0].id, actor="t")
        data = service.export_packet(session, YANTAI, actor="t")
    node_module.set_current(yantai_node)
    with yantai_node.transaction() as session:
        for number in IDS[:2]:  # the third person has not enrolled in Yantai yet
            enrol(session, number)
    return data


def _cases(node: Node) -> list[tuple[str, TransferStep]]:
    node_module.set_current(node)
    with node.transaction() as session:
        rows = session.scalars(select(PensionTransfer).order_by(PensionTransfer.id))
        return [(c.case_ref, c.step) for c in rows]


def test_a_packet_applies_its_cases_once(packet: dict[str, Any], yantai_node: Node) -> None:
    assert (packet["sender"], packet["receiver"], len(packet["cases"])) == (QINGDAO, YANTAI, 3)
    with yantai_node.transaction() as session:
        report = service.import_packet(session, packet)
    assert (len(report.applied), len(report.unchanged), len(report.refused)) == (2, 0, 1)
    assert "no resident with that ID number" in report.refused[0][1]
    steps = sorted(step.value for _, step in _cases(yantai_node))
    assert steps == ["certificate", "letter"]
    node_module.set_current(yantai_node)
    with yantai_node.transaction() as session:
        again = service.import_packet(session, packet)
    assert (len(again.applied), len(again.unchanged), len(again.refused)) == (0, 2, 1)


def _resign(data: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    unsigned = {k: v for k, v in data.items() if k != "signature"}
    unsigned["key_id"] = key.key_id
    return {**unsigned, "signature": key.sign(canonical_json(unsigned)).hex()}


def test_a_tampered_packet_is_refused_whole(packet: dict[str, Any], yantai_node: Node) -> None:
    forged = copy.deepcopy(packet)
    letter = next(c for c in forged["cases"] if c["step"] == "letter")
    letter["individual_account"] += 100_000
    with pytest.raises(service.PacketRefused) as refused, yantai_node.transaction() as session:
        service.import_packet(session, forged)
    assert refused.value.reason == "tampered"
    assert _cases(yantai_node) == []


def test_an_unknown_signer_is_refused(packet: dict[str, Any], yantai_node: Node) -> None:
    stranger = SigningKey.generate(QINGDAO, "SM2", clock.now())
    with pytest.raises(service.PacketRefused) as refused, yantai_node.transaction() as session:
        service.import_packet(session, _resign(packet, stranger))
    assert refused.value.reason == "unknown-signer"
    assert _cases(yantai_node) == []


def test_a_packet_for_another_city_is_refused(packet: dict[str, Any], node: Node) -> None:
    node_module.set_current(node)
    with pytest.raises(service.PacketRefused) as refused, node.transaction() as session:
        service.import_packet(session, packet)
    assert refused.value.reason == "misrouted"


def test_a_malformed_packet_is_refused(packet: dict[str, Any], yantai_node: Node) -> None:
    for change in ({"format": "x"}, {"cases": "all"}, {"signature": "zz"}, {"extra": 1}, []):
        bad = {**packet, **change} if isinstance(change, dict) else change
        with pytest.raises(service.PacketRefused) as refused, yantai_node.transaction() as session:
            service.import_packet(session, bad)
        assert refused.value.reason == "malformed", change
    with yantai_node.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PensionTransfer)) == 0
