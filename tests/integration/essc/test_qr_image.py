"""The code survives the trip through a real QR image: rendered by segno, read back by the
system's zbarimg and by zxing-cpp, then verified online."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.integration.essc.conftest import People
from tests.support.tools import need
from yikatong.essc import qrimage, service
from yikatong.essc.tokens import Level
from yikatong.node import Node


def test_zbarimg_reads_the_rendered_png_and_the_text_verifies(
    node: Node, people: People, tmp_path: Path
) -> None:
    zbarimg = need("zbarimg", "zbar-tools")
    person = people.resident()
    people.account(person)
    with node.transaction() as session:
        issued = service.issue_qr(session, person.resident_id, Level.L1)
    png = tmp_path / "code.png"
    png.write_bytes(qrimage.render_png(issued.text))
    decoded = subprocess.run(
        [zbarimg, "--raw", "-q", str(png)], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    assert decoded == issued.text
    assert qrimage.decode_image(png) == issued.text
    with node.transaction() as session:
        assert service.verify_online(session, decoded).claims.card_ref == person.card_ref


def test_the_code_fits_a_version_7_symbol_at_medium_error_correction(
    node: Node, people: People
) -> None:
    person = people.resident()
    people.account(person)
    with node.transaction() as session:
        issued = service.issue_qr(session, person.resident_id, Level.L1)
    symbol = qrimage.make_qr(issued.text)
    assert symbol.mode == "alphanumeric"
    assert symbol.version <= 7  # 45 × 45 modules
