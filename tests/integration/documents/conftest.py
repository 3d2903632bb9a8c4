"""Fixtures of the certificate tests: a fixed clock, residents with a card, an e-SSC and a card
account holding real ledger transfers, and the poppler/zbar readers a verifier uses."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.tools import need
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.essc import service as essc_service
from yikatong.ledger import service as ledger_service
from yikatong.ledger.models import AccountKind
from yikatong.medical import service as medical_service
from yikatong.node import Node
from yikatong.registry import service as registry_service

CLERK = "clerk-documents-test"
_order = itertools.count(1)


@pytest.fixture(autouse=True)
def _clock(fixed_clock: clock.FixedClock) -> clock.FixedClock:
    return fixed_clock


@dataclass(frozen=True)
class Person:
    resident_id: int
    name: str
    id_masked: str
    card_no: str | None


@dataclass
class People:
    node: Node

    def resident(self, *, name: str = "王小明", card: bool = True, essc: bool = True) -> Person:
        n = next(_order)
        with self.node.transaction() as session:
            resident = registry_service.enrol_resident(
                session,
                registry_service.ResidentInput(
                    id_number=make_resident_id("370202", dt.date(1985, 6, 1), n % 999 + 1),
                    name=name,
                    district_code="370202",
                ),
                actor=CLERK,
            )
            person = Person(resident.id, name, resident.id_masked, None)
            if not card:
                return person
            card_no = cards_service.apply_for_card(session, resident.id, actor=CLERK).card_no
            cards_service.issue_card(session, card_no, actor=CLERK, reason="made")
            cards_service.activate_card(session, card_no, actor=CLERK, reason="received")
            if essc:
                essc_service.bind_account(session, resident.id, f"wx-{resident.id}", actor=CLERK)
        return Person(resident.id, name, resident.id_masked, card_no)

    def payments(self, person: Person, amounts: list[tuple[int, str]]) -> int:
        """Pay ``(fen, memo)`` pairs from a programme's bank account to the resident's card
        financial account, each a ledger transfer; returns the card account's id."""
        with self.node.transaction() as session:
            purse = ledger_service.open_account(
                session,
                code=f"card:{person.card_no}:fin",
                kind=AccountKind.CARD_FINANCIAL,
                name="社保卡金融账户",
                owner_type="resident",
                owner_id=str(person.resident_id),
                exist_ok=True,
            )
            bank = ledger_service.open_account(
                session,
                code="bank:programme",
                kind=AccountKind.BANK,
                name="待遇支付户",
                exist_ok=True,
            )
            for fen, memo in amounts:
                ledger_service.post_transfer(
                    session,
                    ledger_service.TransferRequest(
                        f"pay-{person.resident_id}-{memo}",
                        bank.id,
                        purse.id,
                        fen,
                        metadata={"memo": memo},
                    ),
                )
            return purse.id

    def medical_contribution(self, person: Person, *, year: int, paid_on: dt.date) -> None:
        """Enrol the resident in resident medical insurance and record a bank payment."""
        # The packaged Qingdao policies carry illustrative figures, allowed on a demo node.
        self.node.settings.demo = True
        with self.node.transaction() as session:
            medical_service.pay_contribution(
                session,
                person.resident_id,
                year,
                channel="bank",
                tier="tier1",
                idempotency_key=f"med-{person.resident_id}-{year}",
                external_ref=f"BK{person.resident_id}{year}",
                paid_on=paid_on,
                actor=CLERK,
            )


@pytest.fixture
def people(node: Node) -> People:
    return People(node)


def pdf_text(pdf: bytes, tmp_path: Path, *, layout: bool = False) -> str:
    """The text of a PDF as ``pdftotext`` extracts it (``-layout``: table rows stay lines)."""
    tool = need("pdftotext", "poppler-utils")
    path = tmp_path / "text.pdf"
    path.write_bytes(pdf)
    flags = ["-layout"] if layout else []
    return subprocess.run(
        [tool, *flags, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    ).stdout.decode()


def row_shown(layout_text: str, *cells: str) -> bool:
    """Does one printed line show these cells, in this order?"""
    for line in layout_text.splitlines():
        at = 0
        for cell in cells:
            at = line.find(cell, at)
            if at < 0:
                break
            at += len(cell)
        else:
            return True
    return False


def scan_qr(pdf: bytes, tmp_path: Path) -> str:
    """The QR code of page 1 as a scanner reads it: ``pdftoppm -png -r 150`` then ``zbarimg``."""
    pdftoppm = need("pdftoppm", "poppler-utils")
    zbarimg = need("zbarimg", "zbar-tools")
    path = tmp_path / "scan.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        [
            pdftoppm,
            "-png",
            "-r",
            "150",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(path),
            str(tmp_path / "scan"),
        ],
        check=True,
    )
    out = subprocess.run(
        [zbarimg, "--raw", "-q", str(tmp_path / "scan.png")], capture_output=True, check=True
    )
    return out.stdout.decode().strip()
