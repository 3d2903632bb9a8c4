"""A small, known slice of city activity made through the real services, in a district of its
own, so the statistics of that district are known exactly: two residents with active cards,
e-SSC verifications, certificates, a paid pension, a settled medical bill and bus rides.

Everything happens on the current clock's local day; the caller fixes the clock (integration
tests) or lets it run (browser tests, where the page is asked for this month).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from dataclasses import dataclass, field

from yikatong.acquiring import service as acquiring
from yikatong.benefits import service as benefits
from yikatong.benefits.models import ProgrammeKind
from yikatong.cards import service as cards
from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.core.money import Fen
from yikatong.documents import service as documents
from yikatong.essc import service as essc
from yikatong.medical import service as medical
from yikatong.medical.rules import ClaimItem, ItemClass
from yikatong.node import Node
from yikatong.registry import service as registry
from yikatong.registry.models import RelationType
from yikatong.transit import service as transit
from yikatong.transit.bank import SandboxBank

MAKER, CHECKER = "clerk-stats-maker", "clerk-stats-checker"
PENSION = Fen(312_345)
BILL = (ClaimItem(ItemClass.A, 1, Fen(480_000), "appendectomy"),)
_order = itertools.count()


@dataclass
class Slice:
    district: str
    pensioner: int
    worker: int
    pensioner_card: str
    worker_card: str
    day: dt.date
    # figures of the district on ``day``
    verifications: int = 0
    prints: int = 0
    benefits_paid: int = 0
    benefit_payments: int = 0
    settlements: int = 0
    medical_fund: int = 0
    rides: int = 0
    notes: dict[str, object] = field(default_factory=dict)


def _resident(
    node: Node, district: str, name: str, born: dt.date, bank: str | None
) -> tuple[int, str]:
    with node.transaction() as session:
        person = registry.enrol_resident(
            session,
            registry.ResidentInput(
                id_number=make_resident_id("370202", born, 500 + next(_order) % 499),
                name=name,
                district_code=district,
                bank_account=bank,
                phone=None,
            ),
            actor=MAKER,
        )
        card_no = cards.apply_for_card(session, person.id, actor=MAKER).card_no
        cards.issue_card(session, card_no, actor=MAKER, reason="made")
        cards.activate_card(session, card_no, actor=MAKER, reason="received")
        return person.id, card_no


def _return_file(rows: list[tuple[int, int, str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(benefits.RETURN_HEADER)
    writer.writerows(rows)
    return out.getvalue()


def seed_slice(node: Node, district: str, *, tag: str) -> Slice:
    """Make the slice; ``tag`` keeps codes unique when several slices share a database.

    The node must accept illustrative policy values (``settings.demo``): the packaged fare,
    benefit and later-year medical figures are marked illustrative.
    """
    today = clock.today()
    pensioner, pensioner_card = _resident(
        node, district, "统计甲", dt.date(1950, 3, 3), "6222020200119876"
    )
    worker, worker_card = _resident(node, district, "统计乙", dt.date(1985, 6, 6), None)
    made = Slice(district, pensioner, worker, pensioner_card, worker_card, today)
    with node.transaction() as session:
        registry.add_relative(session, pensioner, worker, RelationType.CHILD, actor=MAKER)

    # e-SSC: the pensioner shows three codes at a counter, each verified online
    with node.transaction() as session:
        essc.bind_account(session, pensioner, f"stats-{tag}", actor=MAKER)
    for _ in range(3):
        with node.transaction() as session:
            text = essc.issue_qr(session, pensioner, "L1").text
            essc.verify_online(session, text)
    made.verifications = 3

    # certificates printed for both
    with node.transaction() as session:
        documents.issue_document(session, pensioner, "proof", actor=f"stats-{tag}", role="resident")
        documents.issue_document(session, worker, "proof", actor=MAKER, role="clerk")
        documents.issue_document(session, worker, "contributions", actor=MAKER, role="clerk")
    made.prints = 3

    # the pensioner's pension for this month, paid by the bank
    period = today.replace(day=1)
    with node.transaction() as session:
        programme = benefits.add_programme(
            session,
            code=f"stats-{tag}",
            kind=ProgrammeKind.BASIC_PENSION,
            actor=MAKER,
            amount=PENSION,
            allow_illustrative=True,
        )
        benefits.fund_programme(
            session, programme.id, amount=PENSION * 2, reference=f"CZ-{tag}", actor=MAKER
        )
        benefits.enrol_beneficiary(
            session, programme.id, pensioner, actor=MAKER, first_period=period
        )
        batch = benefits.generate_batch(session, programme.id, period, actor=MAKER)
        benefits.approve_batch(session, batch.id, actor=CHECKER)
        benefits.export_bank_file(session, batch.id, actor=MAKER)
        lines = benefits.batch_lines(session, batch.id)
        benefits.import_return_file(
            session,
            batch.id,
            _return_file(
                [(line.id, line.amount, "paid", f"CB-{tag}-{line.id}", "") for line in lines]
            ),
            actor=MAKER,
        )
        made.notes["value_date"] = batch.value_date
    made.benefits_paid, made.benefit_payments = PENSION, 1

    # the worker's resident medical insurance, paid last year in the window, and one bill
    with node.transaction() as session:
        medical.register_institution(
            session, code=f"ST-{tag}", name="统计医院", level=2, designated=True,
            province_direct=False,
        )  # fmt: skip
        medical.pay_contribution(
            session, worker, today.year, channel="bank", tier="tier1",
            external_ref=f"R-{tag}", paid_on=dt.date(today.year - 1, 11, 1),
            idempotency_key=f"stats-{tag}-contribution", actor=MAKER,
        )  # fmt: skip
        settled = medical.settle(
            session, institution_code=f"ST-{tag}", resident_id=worker, claim_no=f"S-{tag}-1",
            items=BILL, service_date=today, actor="cashier",
        )  # fmt: skip
        made.medical_fund = settled.record.fund
    made.settlements = 1

    # bus rides: the worker twice, paid from the transport purse
    with node.transaction() as session:
        acquiring.register_merchant(
            session, code=f"bus-{tag}", name="统计公交", kind=acquiring.MerchantKind.BUS
        )
        terminal, _ = acquiring.register_terminal(
            session, terminal_no=f"ST-{tag}-BUS".upper(), merchant_code=f"bus-{tag}", line="301"
        )
        SandboxBank().deposit(session, card_no=worker_card, amount=2_000, reference=f"dep-{tag}")
        transit.top_up(session, card_no=worker_card, amount=2_000, idempotency_key=f"tu-{tag}")
    for seq in (1, 2):
        with node.transaction() as session:
            terminal = acquiring.get_terminal(session, f"ST-{tag}-BUS".upper())
            tap = transit.authorise_ride(session, terminal, terminal_seq=seq, card_no=worker_card)
            assert tap.status == "approved", tap.reason
    made.rides = 2
    return made
