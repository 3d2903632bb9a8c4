"""A one-off grant (last month = first month) is drawn by one batch only; stopping a resident's
payments (停发) stops every active or suspended enrolment once."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.benefits.conftest import CHECKER, MAKER, World
from yikatong.benefits import service
from yikatong.benefits.models import BeneficiaryStatus, ProgrammeKind
from yikatong.core.errors import Conflict, InvalidInput

MARCH, APRIL = dt.date(2025, 3, 1), dt.date(2025, 4, 1)


def test_a_one_off_grant_is_drawn_by_its_month_only(world: World) -> None:
    rid = world.resident("丧葬金")
    with world.node.transaction() as session:
        programme = service.add_programme(
            session, code="grant", kind=ProgrammeKind.SUBSIDY, actor=MAKER, allow_illustrative=True
        )
        service.enrol_beneficiary(
            session, programme.id, rid, actor=MAKER, amount=500_000,
            first_period=MARCH, last_period=MARCH,
        )  # fmt: skip
        march = service.generate_batch(session, programme.id, MARCH, actor=MAKER)
        assert (march.line_count, march.total) == (1, 500_000)
    with world.node.transaction() as session, pytest.raises(Conflict):
        service.generate_batch(session, programme.id, APRIL, actor=CHECKER)


def test_the_last_month_cannot_come_before_the_first(world: World) -> None:
    rid = world.resident()
    pid = world.pension([])
    with world.node.transaction() as session, pytest.raises(InvalidInput) as refused:
        service.enrol_beneficiary(
            session, pid, rid, actor=MAKER, first_period=APRIL, last_period=MARCH
        )
    assert refused.value.field == "last_period"


def test_stopping_payments_stops_every_enrolment_once(world: World) -> None:
    rid = world.resident()
    pid = world.pension([rid])
    with world.node.transaction() as session:
        (stopped,) = service.stop_payments_of(session, rid)
        assert stopped.status is BeneficiaryStatus.STOPPED
        assert service.stop_payments_of(session, rid) == []
        found = service.find_beneficiary(session, pid, rid)
        assert found is not None and found.status is BeneficiaryStatus.STOPPED
        assert service.find_beneficiary(session, pid, rid + 1000) is None
    with world.node.transaction() as session, pytest.raises(Conflict):
        service.generate_batch(session, pid, MARCH, actor=MAKER)
