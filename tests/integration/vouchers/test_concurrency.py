"""Many claimers at once never over-issue: OS processes with their own connections against
PostgreSQL, and threads with their own sessions on both backends. Refunds of one order at once
never refund more than the order nor claw the discount back twice."""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.integration.acquiring._kit import Kit
from tests.integration.vouchers import _workers
from tests.integration.vouchers.conftest import CODE, Vouchers
from tests.support.pgcluster import PgCluster
from yikatong.acquiring import service as acquiring
from yikatong.core import clock, db
from yikatong.core.errors import Conflict, DomainError
from yikatong.core.settings import Settings
from yikatong.ledger import service as ledger
from yikatong.node import Node, set_current
from yikatong.vouchers import service
from yikatong.vouchers.models import ClawbackTo, Voucher, VoucherRefund, VoucherState

PROCESSES = 6
PER_PROCESS = 10
QUOTA = 25
_names = itertools.count()


@pytest.fixture
def pg_node(pg_cluster: PgCluster, tmp_path: Path) -> Iterator[Node]:
    url = pg_cluster.create_database(f"vouchers_{os.getpid()}_{next(_names)}")
    opened = Node.open(Settings(data_dir=tmp_path / "node", database_url=url, city_code="370200"))
    db.create_schema(opened.engine)
    set_current(opened)
    yield opened
    set_current(None)
    opened.close()


def _campaign(node: Node) -> tuple[Vouchers, list[int]]:
    world = Vouchers(Kit(node))
    world.campaign(types=(service.TypeSpec(200_000, 30_000, QUOTA),), budget=10_000_000)
    residents = [world.resident().resident_id for _ in range(PROCESSES * PER_PROCESS)]
    return world, residents


def _claimed(node: Node) -> tuple[int, int]:
    """(vouchers stored, claimed counter of today's release)."""
    with node.transaction() as session:
        stored = session.scalar(select(func.count(Voucher.id)))
        campaign = service.get_campaign(session, CODE)
        vtype = service.campaign_types(session, campaign)[0]
        release = service.release_of(session, vtype.id, clock.today())
        assert release is not None and stored is not None
        return stored, release.claimed


def test_processes_claiming_at_once_never_exceed_the_quota(pg_node: Node) -> None:
    _, residents = _campaign(pg_node)
    url = pg_node.settings.effective_database_url
    at = clock.now().isoformat()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(PROCESSES)
        with context.Pool(PROCESSES) as pool:
            results = pool.starmap(
                _workers.claim_all,
                [
                    (url, CODE, "2000-300", residents[w::PROCESSES], at, barrier)
                    for w in range(PROCESSES)
                ],
            )
    acks = [ack for r in results for ack in r["acks"]]
    refused = [detail for r in results for detail in r["refused"]]
    assert len(acks) == QUOTA
    assert len(refused) == len(residents) - QUOTA
    assert all("all claimed" in detail for detail in refused)
    assert _claimed(pg_node) == (QUOTA, QUOTA)
    with pg_node.transaction() as session:
        stored = {(v, r) for v, r in session.execute(select(Voucher.id, Voucher.resident_id))}
    assert stored == set(acks)  # everything acknowledged is there, nothing else


def test_processes_claiming_for_one_person_issue_one_voucher(pg_node: Node) -> None:
    _, residents = _campaign(pg_node)
    url = pg_node.settings.effective_database_url
    at = clock.now().isoformat()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(PROCESSES)
        with context.Pool(PROCESSES) as pool:
            results = pool.starmap(
                _workers.claim_all,
                [(url, CODE, "2000-300", [residents[0]], at, barrier) for _ in range(PROCESSES)],
            )
    acks = [ack for r in results for ack in r["acks"]]
    assert len(acks) == 1
    assert all("once a week" in d for r in results for d in r["refused"])
    assert _claimed(pg_node) == (1, 1)  # the losers' slots were not kept


def test_threads_with_their_own_sessions_never_exceed_the_quota(node: Node) -> None:
    world, residents = _campaign(node)
    won: list[int] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def claimer(mine: list[int]) -> None:
        start.wait()
        for resident_id in mine:
            try:
                voucher = world.claim_for(resident_id)
            except Conflict as refusal:
                refused.append(refusal.detail)
            else:
                won.append(voucher)

    threads = [threading.Thread(target=claimer, args=(residents[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == QUOTA and len(set(won)) == QUOTA
    assert len(refused) == len(residents) - QUOTA
    assert _claimed(node) == (QUOTA, QUOTA)


@pytest.mark.parametrize("closed", [False, True], ids=["open", "after-close-out"])
def test_threads_refunding_one_order_at_once_never_refund_more_or_claw_back_twice(
    node: Node, fixed_clock: clock.FixedClock, closed: bool
) -> None:
    world = Vouchers(Kit(node))
    world.campaign()
    rider = world.resident()
    with node.transaction() as session:
        voucher = service.claim_voucher(session, CODE, "8000-600", rider.resident_id)
        till = acquiring.get_terminal(session, "POS-LIQUN")
        service.redeem_voucher(
            session, till, order_ref="POS-1", order_amount=900_000, card_no=rider.card_no
        )
        code = voucher.code
    if closed:  # the returns come after the close-out: the discount goes to the fiscal account
        fixed_clock.set(dt.datetime(2025, 3, 21, 1, 0, tzinfo=dt.UTC))
        with node.transaction() as session:
            service.close_campaign(session, CODE, actor="ops")
    with node.transaction() as session:
        fiscal = ledger.get_account_by_code(session, service.FISCAL_ACCOUNT_CODE)
        fiscal_before = fiscal.credits_posted
    made: list[tuple[str, int, int]] = []  # (refund ref, refund id, clawback)
    refused: list[str] = []
    start = threading.Barrier(12)

    def refunder(ref: str, amount: int) -> None:
        start.wait()
        try:
            with node.transaction() as session:
                terminal = acquiring.get_terminal(session, "POS-LIQUN")
                result = service.refund_voucher(
                    session, terminal, voucher_code=code, order_ref="POS-1", refund_ref=ref,
                    amount=amount,
                )  # fmt: skip
                made.append((ref, result.refund.id, result.refund.clawback))
        except DomainError as refusal:
            refused.append(refusal.detail)

    jobs = [(f"R-{i}", 200_000) for i in range(8)] + [("DUP", 100_000)] * 4
    threads = [threading.Thread(target=refunder, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) + len(refused) == len(jobs)
    with node.transaction() as session:
        rows = list(session.scalars(select(VoucherRefund)))
        stored = {(r.refund_ref, r.id, r.clawback) for r in rows}
        assert stored == set(made)  # every acknowledged refund is there, nothing else
        assert sum(r.amount for r in rows) <= 900_000
        assert sum(r.clawback for r in rows) == 60_000  # clawed back once
        assert [r.refund_ref for r in rows].count("DUP") == 1
        assert session.get(Voucher, voucher.id).state is VoucherState.REFUNDED
        assert ledger.verify(session) == []
        fiscal = ledger.get_account_by_code(session, service.FISCAL_ACCOUNT_CODE)
        fiscal_gained = fiscal.credits_posted - fiscal_before
        (clawback_to,) = {r.clawback_to for r in rows if r.clawback}
        # given back to its holder while the campaign runs, not after its close-out
        reinstated = session.scalar(
            select(func.count(Voucher.id)).where(Voucher.reinstates_id == voucher.id)
        )
        assert reinstated == (0 if closed else 1)
    if closed:
        assert (world.budget(), fiscal_gained, clawback_to) == (0, 60_000, ClawbackTo.FISCAL)
    else:
        assert (world.budget(), fiscal_gained, clawback_to) == (5_000_000, 0, ClawbackTo.BUDGET)
