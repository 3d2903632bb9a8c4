"""A certificate issued by another league city verifies at this node with the league's keys; its
register is the other city's, so this node reports it as not checked against a register."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.integration.documents.conftest import People
from yikatong.core import clock
from yikatong.crypto.keyring import SigningKey
from yikatong.documents import codes, pdf, service
from yikatong.documents.codes import DocumentRejected, RejectReason
from yikatong.federation import league as lg
from yikatong.node import Node

YANTAI = "370600"


def yantai_certificate(node: Node, people: People, key: SigningKey) -> bytes:
    """A certificate as Yantai's node would print it (Yantai's content, Yantai's key)."""
    with node.transaction() as session:
        issued = service.issue_document(
            session, people.resident().resident_id, "proof", actor="clerk", role="clerk"
        )
    content = dataclasses.replace(
        issued.content,
        city_code=YANTAI,
        issuer="烟台市社会保险事业中心",
        serial=f"{YANTAI}20250310ABCDEF01",
    )
    return pdf.render_pdf(content, codes.seal(key, content), city_name="烟台")


def test_a_league_citys_certificate_verifies_here_without_a_register_check(
    node: Node, people: People, tmp_path: Path
) -> None:
    yantai = SigningKey.generate(YANTAI, "Ed25519", clock.now())
    certificate = yantai_certificate(node, people, yantai)
    with pytest.raises(DocumentRejected) as caught, node.transaction() as session:
        service.verify_pdf(session, certificate)
    assert caught.value.reason is RejectReason.UNKNOWN_KEY  # not in a league yet

    operator = SigningKey.generate("league", "SM2", clock.now())
    document = lg.new_document("胶东经济圈", operator)
    for city, name, key in (("370200", "青岛", node.signing_key()), (YANTAI, "烟台", yantai)):
        document = lg.with_member(
            document, city_code=city, name=name, endpoint="http://testserver", key=key.verify_key()
        )
    path = tmp_path / "league.json"
    path.write_text(lg.sign_document(document, operator).to_json(), encoding="utf-8")
    node.settings.league_file = path

    with node.transaction() as session:
        verdict = service.verify_pdf(session, certificate)
    assert verdict.claims.city_code == YANTAI
    assert not verdict.registered
    assert verdict.content is not None and verdict.content.issuer == "烟台市社会保险事业中心"
