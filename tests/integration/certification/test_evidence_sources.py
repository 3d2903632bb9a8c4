"""Silent certification (无感认证) from the platform's own events, read through the evidence
interface: a medical settlement and a subsidy received each certify a retiree."""

from __future__ import annotations

import csv
import datetime as dt
import io

from tests.integration.certification.conftest import CHECKER, MAKER, World
from yikatong.benefits import service as benefits
from yikatong.benefits.models import ProgrammeKind
from yikatong.certification import evidence, service
from yikatong.core.money import Fen, yuan
from yikatong.medical import service as medical
from yikatong.medical.rules import ClaimItem, ItemClass


def _pay_subsidy(world: World, resident_id: int) -> None:
    with world.node.transaction() as session:
        programme = benefits.add_programme(
            session,
            code="heating",
            kind=ProgrammeKind.SUBSIDY,
            actor=MAKER,
            allow_illustrative=True,
        )
        benefits.fund_programme(
            session, programme.id, amount=yuan(10_000), reference="CZ-H", actor=MAKER
        )
        benefits.enrol_beneficiary(
            session, programme.id, resident_id, actor=MAKER, first_period=dt.date(2025, 3, 1)
        )
        batch = benefits.generate_batch(session, programme.id, dt.date(2025, 3, 1), actor=MAKER)
        benefits.approve_batch(session, batch.id, actor=CHECKER)
        benefits.export_bank_file(session, batch.id, actor=MAKER)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(benefits.RETURN_HEADER)
        for line in benefits.batch_lines(session, batch.id):
            writer.writerow((line.id, line.amount, "paid", f"CB{line.id}", ""))
        benefits.import_return_file(session, batch.id, out.getvalue(), actor=MAKER)


def _settle_claim(world: World, resident_id: int) -> None:
    with world.node.transaction() as session:
        medical.pay_contribution(
            session, resident_id, 2025, channel="bank", tier="tier1", external_ref=f"B-{resident_id}",
            paid_on=dt.date(2024, 12, 1), idempotency_key=f"insured-{resident_id}", actor="test",
        )  # fmt: skip
        medical.register_institution(
            session,
            code="QD-H3",
            name="青岛市立医院",
            level=3,
            designated=True,
            province_direct=True,
        )
        medical.settle(
            session,
            institution_code="QD-H3",
            resident_id=resident_id,
            claim_no="C-1",
            items=(ClaimItem(ItemClass.A, 1, Fen(30000), "consultation"),),
            service_date=dt.date(2025, 2, 20),
            actor="cashier-1",
        )


def test_medical_settlements_and_subsidy_receipts_certify_silently(world: World) -> None:
    patient = world.retiree("看病的", since=dt.date(2024, 1, 1))
    subsidised = world.retiree("领补贴的", since=dt.date(2024, 1, 1))
    silent = world.retiree("没动静的", since=dt.date(2024, 1, 1))
    _settle_claim(world, patient)
    _pay_subsidy(world, subsidised)
    assert {s.kind for s in evidence.sources()} >= {
        "medical_settlement",
        "transit_tap",
        "benefit_receipt",
    }
    with world.node.transaction() as session:
        seen = set(
            evidence.collect(session, since=dt.date(2024, 3, 10), until=dt.date(2025, 3, 10))
        )
        assert (patient, 1, dt.date(2025, 2, 20)) in seen
        assert (subsidised, 5, dt.date(2025, 3, 10)) in seen
        outcome = service.run_certification(
            session, as_of=dt.date(2025, 3, 10), actor="t", allow_illustrative=True
        )
        assert outcome.by_status["certified"] == 2 and outcome.by_status["suspend"] == 1
        assert (service.state_of(session, patient).last_kind) == "medical_settlement"
        assert (service.state_of(session, subsidised).last_kind) == "benefit_receipt"
        assert service.state_of(session, silent).status == "suspend"
        assert service.state_of(session, patient).last_channel == "silent"
