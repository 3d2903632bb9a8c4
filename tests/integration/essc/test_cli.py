"""``ykt qr issue`` writes a PNG; ``ykt qr verify`` reads it back from the image, verifies it
online against the node and exits non-zero, with the reason, when the code must be refused."""

from __future__ import annotations

from pathlib import Path

import segno

from tests.conftest import Ykt
from tests.integration.essc.conftest import CLERK, People
from yikatong.cards import service as cards_service
from yikatong.essc.tokens import TokenRejected
from yikatong.node import Node


def test_an_issued_png_verifies_once_then_is_a_replay(
    ykt: Ykt, people: People, tmp_path: Path
) -> None:
    person = people.resident()
    people.account(person)
    png = tmp_path / "code.png"

    issued = ykt("qr", "issue", "--card", person.card_no, "--level", "L1", "--out", str(png))
    assert issued.exit_code == 0, issued.output
    assert png.read_bytes().startswith(b"\x89PNG")

    first = ykt("qr", "verify", str(png))
    assert first.exit_code == 0, first.output
    assert "VALID" in first.output and str(person.card_ref) in first.output

    again = ykt("qr", "verify", str(png))
    assert again.exit_code != 0
    assert "INVALID" in again.output and "reason=replayed" in again.output


def test_a_code_of_a_card_reported_lost_is_refused(
    ykt: Ykt, node: Node, people: People, tmp_path: Path
) -> None:
    person = people.resident()
    people.account(person)
    png = tmp_path / "code.png"
    assert ykt("qr", "issue", "--card", person.card_no, "--out", str(png)).exit_code == 0
    with node.transaction() as session:
        cards_service.report_lost(session, str(person.card_no), actor=CLERK, reason="phone call")

    verdict = ykt("qr", "verify", str(png))
    assert verdict.exit_code != 0
    assert "INVALID" in verdict.output and "reason=card-not-active" in verdict.output


def test_a_payment_code_needs_the_pin(ykt: Ykt, people: People, tmp_path: Path) -> None:
    person = people.resident()
    people.account(person, pin="135790")
    png = tmp_path / "pay.png"

    refused = ykt("qr", "issue", "--card", person.card_no, "--level", "L2", "--out", str(png))
    assert refused.exit_code != 0
    assert not png.exists()

    paid = ykt(
        "qr", "issue", "--card", person.card_no, "--level", "L2", "--pin", "135790",
        "--out", str(png),
    )  # fmt: skip
    assert paid.exit_code == 0, paid.output
    assert "L2" in ykt("qr", "verify", str(png)).output


def test_an_image_with_a_foreign_qr_code_is_malformed(ykt: Ykt, tmp_path: Path) -> None:
    png = tmp_path / "foreign.png"
    segno.make("HTTPS://EXAMPLE.ORG/NOT-A-CODE", error="m").save(str(png), scale=6)
    verdict = ykt("qr", "verify", str(png))
    assert verdict.exit_code == TokenRejected.exit_code
    assert "reason=malformed" in verdict.output


def test_an_image_without_a_code_is_bad_input(ykt: Ykt, tmp_path: Path) -> None:
    not_png = tmp_path / "blank.png"
    not_png.write_bytes(b"not an image at all")
    verdict = ykt("qr", "verify", str(not_png))
    assert verdict.exit_code != 0
    assert "cannot read the image" in verdict.output
