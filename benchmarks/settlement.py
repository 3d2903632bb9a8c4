"""Medical claims settled per second (医保结算), claims of 20 line items, on SQLite.

Three measurements in the same run, on one fresh embedded database:

- ``pure``: ``medical.rules.settle_claim`` alone (the settlement core: policy + accumulators in,
  who pays what and the line-by-line explanation out), each person's figures carried from one
  claim to the next;
- ``bulk``: the stored path ``medical.service.settle_claims_bulk``, many claims per database
  transaction with every check of ``settle`` (cover, duplicates, accumulators locked and written
  once per person per batch, one ``ledger.post_batch`` for the money);
- ``naive``: the baseline, a per-claim ORM loop: ``medical.service.settle`` in its own
  transaction for each claim (read, lock, compute, insert, post, commit).

Ratios are against ``naive``; the goal for the pure core is ≥ 100,000 line items per second.

    .venv/bin/python benchmarks/settlement.py [--quick] [--claims N] [--batch-size B]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emit_json, machine, peak_rss_kib, ratio

from yikatong import node as current_node
from yikatong.core import clock, db
from yikatong.core.ids import make_resident_id
from yikatong.core.money import Fen
from yikatong.core.settings import Settings
from yikatong.medical import service
from yikatong.medical.policy import load_medical_policy
from yikatong.medical.rules import Accumulators, Claim, ClaimItem, ItemClass, settle_claim
from yikatong.registry import service as registry

ITEMS_PER_CLAIM = 20
GOAL_PURE_ITEMS_PER_S = 100_000
SERVICE_DAY = dt.date(2025, 3, 1)
NOW = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 Beijing time
SIZES = {
    # people, pure claims, bulk claims, naive claims, batch size
    "quick": (100, 20_000, 2_000, 100, 500),
    "full": (1_000, 200_000, 40_000, 1_000, 2_000),
}
HOSPITALS = (("BM-H3", 3), ("BM-H2", 2), ("BM-C1", 1))


def _bill(rng: random.Random) -> tuple[ClaimItem, ...]:
    classes = (ItemClass.A, ItemClass.A, ItemClass.B, ItemClass.C)
    return tuple(
        ClaimItem(rng.choice(classes), rng.randint(1, 4), Fen(rng.randint(500, 60_000)), f"i{n}")
        for n in range(ITEMS_PER_CLAIM)
    )


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def run_pure(people: int, claims: int, rng: random.Random) -> dict[str, float]:
    policy = load_medical_policy("qingdao", 2025, allow_illustrative=True)
    bills = [_bill(rng) for _ in range(min(claims, 2_000))]
    figures = [Accumulators(year=2025, continuous_years=n % 5) for n in range(people)]
    started = time.perf_counter()
    for n in range(claims):
        person = n % people
        settlement = settle_claim(
            policy, Claim(bills[n % len(bills)]), figures[person],
            institution_level=HOSPITALS[n % 3][1], offsite=None,
        )  # fmt: skip
        figures[person] = settlement.accumulators
    seconds = time.perf_counter() - started
    return {"claims_per_s": _rate(claims, seconds),
            "items_per_s": _rate(claims * ITEMS_PER_CLAIM, seconds)}  # fmt: skip


class World:
    """A demo node on a fresh SQLite file with insured people and three hospitals."""

    def __init__(self, data_dir: Path, people: int) -> None:
        settings = Settings(
            data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'ykt.db'}",
            city_code="370200", demo=True,
        )  # fmt: skip
        self.node = current_node.Node.open(settings)
        current_node.set_current(self.node)
        db.create_schema(self.node.engine)
        with self.node.transaction() as session:
            for code, level in HOSPITALS:
                service.register_institution(
                    session, code=code, name=f"hospital {code}", level=level, designated=True,
                    province_direct=True,
                )  # fmt: skip
            self.people = []
            for n in range(people):
                born = dt.date(1950, 1, 1) + dt.timedelta(days=n)  # one person per day
                person = registry.enrol_resident(
                    session,
                    registry.ResidentInput(
                        id_number=make_resident_id("370202", born, 10 + n % 900),
                        name="测试", district_code="370202",
                    ),
                    actor="benchmark",
                )  # fmt: skip
                service.pay_contribution(
                    session, person.id, 2025, channel="bank", tier="tier1",
                    external_ref=f"BM-{n}", paid_on=dt.date(2024, 12, 1),
                    idempotency_key=f"bm-contrib-{n:06d}", actor="benchmark",
                )  # fmt: skip
                self.people.append(person.id)
        self.serial = 0

    def requests(self, count: int, rng: random.Random, label: str) -> list[service.ClaimRequest]:
        out = []
        for _ in range(count):
            self.serial += 1
            code = HOSPITALS[self.serial % 3][0]
            out.append(
                service.ClaimRequest(
                    code, rng.choice(self.people), f"{label}{self.serial}", _bill(rng), SERVICE_DAY
                )
            )
        return out


def run_bulk(world: World, claims: int, batch: int, rng: random.Random) -> dict[str, float]:
    requests = world.requests(claims, rng, "B")
    started = time.perf_counter()
    settled = 0
    for start in range(0, claims, batch):
        with world.node.transaction() as session:
            outcomes = service.settle_claims_bulk(
                session, requests[start : start + batch], actor="benchmark"
            )
        settled += sum(1 for o in outcomes if o.settled is not None)
    seconds = time.perf_counter() - started
    if settled != claims:
        raise SystemExit(f"bulk settled {settled} of {claims} claims")
    return {"claims_per_s": _rate(claims, seconds),
            "items_per_s": _rate(claims * ITEMS_PER_CLAIM, seconds)}  # fmt: skip


def run_naive(world: World, claims: int, rng: random.Random) -> dict[str, float]:
    requests = world.requests(claims, rng, "N")
    started = time.perf_counter()
    for r in requests:
        with world.node.transaction() as session:
            service.settle(
                session, institution_code=r.institution_code, resident_id=r.resident_id,
                claim_no=r.claim_no, items=r.items, service_date=r.service_date,
                actor="benchmark",
            )  # fmt: skip
    seconds = time.perf_counter() - started
    return {"claims_per_s": _rate(claims, seconds),
            "items_per_s": _rate(claims * ITEMS_PER_CLAIM, seconds)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 30 s)")
    parser.add_argument("--claims", type=int, help="claims for the bulk stored path")
    parser.add_argument("--batch-size", type=int, help="claims per settle_claims_bulk call")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    people, pure_claims, bulk_claims, naive_claims, batch = SIZES[mode]
    bulk_claims = args.claims or bulk_claims
    batch = args.batch_size or batch
    rng = random.Random(2025)

    with clock.clock_override(clock.FixedClock(NOW)), tempfile.TemporaryDirectory() as tmp:
        pure = run_pure(people, pure_claims, rng)
        print(f"pure   settle_claim        {pure['items_per_s']:>12,.0f} items/s "
              f"({pure['claims_per_s']:,.0f} claims/s, {pure_claims:,} claims)")  # fmt: skip
        setup = time.perf_counter()
        world = World(Path(tmp), people)
        print(f"setup  {people} insured people in {time.perf_counter() - setup:.1f} s")
        naive = run_naive(world, naive_claims, rng)
        print(f"naive  settle per claim    {naive['items_per_s']:>12,.0f} items/s "
              f"({naive['claims_per_s']:,.0f} claims/s, {naive_claims:,} claims)")  # fmt: skip
        bulk = run_bulk(world, bulk_claims, batch, rng)
        print(f"bulk   settle_claims_bulk  {bulk['items_per_s']:>12,.0f} items/s "
              f"({bulk['claims_per_s']:,.0f} claims/s, {bulk_claims:,} claims, "
              f"{batch:,} per transaction)")  # fmt: skip
        world.node.close()
        current_node.set_current(None)
    result: dict[str, Any] = {
        "benchmark": "settlement",
        "ratios": {
            "bulk_vs_naive": ratio(bulk["claims_per_s"], naive["claims_per_s"]),
            "pure_vs_naive": ratio(pure["claims_per_s"], naive["claims_per_s"]),
            "pure_vs_goal": ratio(pure["items_per_s"], GOAL_PURE_ITEMS_PER_S),
        },
        "mode": mode,
        "backend": "sqlite",
        "items_per_claim": ITEMS_PER_CLAIM,
        "pure": pure,
        "bulk_stored": bulk,
        "naive_stored": naive,
        "goal_pure_items_per_s": GOAL_PURE_ITEMS_PER_S,
        "goal_met": pure["items_per_s"] >= GOAL_PURE_ITEMS_PER_S,
        "sizes": {
            "people": people,
            "pure_claims": pure_claims,
            "bulk_claims": bulk_claims,
            "naive_claims": naive_claims,
            "batch": batch,
        },
        "peak_rss_kib": peak_rss_kib(),
        "machine": machine(),
    }
    emit_json(result)


if __name__ == "__main__":
    main()
