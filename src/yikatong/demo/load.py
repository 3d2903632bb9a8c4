"""Load the demo city: residents in households, their relatives, cards in every state, e-SSC
accounts with families and PINs, each domain's own demo data (:data:`DOMAIN_SEEDERS`), and staff
tokens to try the API with.

Everything goes through the domain services (the same checks as production); the bulk steps use
their batch forms. The same seed gives the same people; loading twice adds nothing. The node's
city code chooses the geography (Qingdao by default; Jinan and Zhengzhou for the demo league).
"""

from __future__ import annotations

import datetime as dt
import importlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from sqlalchemy import select

from yikatong.api.auth import issue_token
from yikatong.cards import demo as cards_demo
from yikatong.cards import service as cards
from yikatong.cards.models import CardState
from yikatong.core import migrate
from yikatong.core.errors import CalendarUnavailable, PolicyError
from yikatong.demo.residents import GeneratedResident, generate_households, household_relations
from yikatong.demo.residents import write_csv as write_residents_csv
from yikatong.essc import service as essc
from yikatong.node import Node
from yikatong.registry import importer
from yikatong.registry import service as registry
from yikatong.registry.models import Resident

ACTOR = "demo-loader"
DEMO_PIN = "123456"
# How many residents get an e-SSC app account (with family and PIN) to sign in with.
DEMO_ACCOUNTS = 5
_CARD_BATCH = 2_000
_HOUSEHOLD_BATCH = 500

# Staff of the demo city: (subject, roles). Tokens are printed by ``ykt demo``.
STAFF: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("clerk-demo", ("clerk",)),
    ("clerk-demo-2", ("clerk",)),
    ("auditor-demo", ("auditor",)),
    ("admin-demo", ("admin",)),
    ("terminal-demo-bus-001", ("terminal",)),
)

Step = Callable[[str, int, int], None]
"""Progress: (step name, done, total)."""

# Each domain's demo data: modules defining ``seed_demo(node: Node, rng: random.Random) ->
# dict[str, int]`` (figures for the summary table), called in this order after the residents and
# their cards are loaded. Wiring a domain's seeder is one line here; a module that is not
# installed (yet) is skipped.
DOMAIN_SEEDERS: tuple[str, ...] = (
    "yikatong.acquiring.demo",
    "yikatong.transit.demo",
    "yikatong.canteens.demo",
    "yikatong.venues.demo",
    "yikatong.vouchers.demo",
    "yikatong.pensions.demo",
    "yikatong.appraisal.demo",
    "yikatong.certification.demo",  # after the domains whose rides, meals and entries it reads
    "yikatong.benefits.demo",  # this month's pension batch of the retirees certification kept
)


@dataclass
class DemoAccount:
    resident_id: int
    name: str
    id_masked: str
    card_no: str
    card_ref: str
    app_account_id: str
    family: list[str]
    token: str


@dataclass
class DemoReport:
    residents: int = 0
    relations: int = 0
    cards: dict[CardState, int] = field(default_factory=dict)
    accounts: list[DemoAccount] = field(default_factory=list)
    staff_tokens: dict[str, str] = field(default_factory=dict)
    already_loaded: bool = False
    rejected: int = 0
    # Figures of each domain seeder, by module name (empty when the data was already loaded).
    figures: dict[str, dict[str, int]] = field(default_factory=dict)
    # Seeders that had nothing to load for this city (no policy for it), with the reason.
    skipped: dict[str, str] = field(default_factory=dict)


def write_tokens(node: Node, report: DemoReport) -> Path:
    """The bearer tokens of the demo's staff and residents, one ``who<TAB>token`` a line, in
    ``data_dir/demo/tokens.tsv``; returns the file."""
    lines = [f"{who}\t{token}" for who, token in report.staff_tokens.items()]
    lines += [f"{a.app_account_id}\t{a.token}" for a in report.accounts]
    path = node.settings.data_dir / "demo" / "tokens.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _batches(
    items: Iterator[list[GeneratedResident]], size: int
) -> Iterator[list[list[GeneratedResident]]]:
    while batch := list(islice(items, size)):
        yield batch


def load_demo(
    node: Node,
    *,
    residents: int,
    seed: int = 2024,
    progress: Step | None = None,
    domains: Sequence[str] | None = None,
) -> DemoReport:
    """Create the schema and load the demo data into ``node`` (nothing when already loaded).

    ``domains`` names the domain seeders to run (default: all of :data:`DOMAIN_SEEDERS`; ``()``
    loads the register, cards and e-SSC accounts only)."""
    if residents < 1:
        raise ValueError("the demo needs at least one resident")
    step = progress or (lambda _name, _done, _total: None)
    migrate.upgrade(node.engine)
    report = DemoReport()
    with node.transaction() as session:
        existing = registry.count_residents(session)
    if existing:
        report.already_loaded = True
        report.residents = existing
    else:
        _load_residents(node, residents, seed, report, step)
        _link_households(node, residents, seed, report, step)
        _give_cards(node, seed, report, step)
    _ensure_accounts(node, report)
    if not report.already_loaded:
        # After the e-SSC accounts: rides and meals are made by the people who can sign in.
        _run_domain_seeders(
            node, seed, report, step, DOMAIN_SEEDERS if domains is None else tuple(domains)
        )
    for subject, roles in STAFF:
        report.staff_tokens[subject] = issue_token(
            node, subject, list(roles), ttl=dt.timedelta(days=30)
        )
    return report


def _load_residents(node: Node, count: int, seed: int, report: DemoReport, step: Step) -> None:
    demo_dir = node.settings.data_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    csv_path = demo_dir / "residents.csv"
    step("generate residents", 0, count)
    write_residents_csv(csv_path, count, seed, city_code=node.city_code)
    step("generate residents", count, count)
    result = importer.import_residents(
        csv_path,
        actor=ACTOR,
        sessions=node.sessions,
        progress=lambda _bytes, rows: step("import residents", rows, count),
    )
    report.residents = result.imported
    report.rejected = result.rejected


def _link_households(node: Node, count: int, seed: int, report: DemoReport, step: Step) -> None:
    done = 0
    households = generate_households(count, seed, city_code=node.city_code)
    for batch in _batches(households, _HOUSEHOLD_BATCH):
        links = [link for household in batch for link in household_relations(household)]
        with node.transaction() as session:
            report.relations += registry.link_relatives_by_id_number(session, links, actor=ACTOR)
        done += sum(len(household) for household in batch)
        step("link relatives", done, count)


def _give_cards(node: Node, seed: int, report: DemoReport, step: Step) -> None:
    with node.transaction() as session:
        ids = list(session.scalars(select(Resident.id).order_by(Resident.id)))
    for start in range(0, len(ids), _CARD_BATCH):
        chunk = ids[start : start + _CARD_BATCH]
        with node.transaction() as session:
            made = cards_demo.give_cards_in_all_states(session, chunk, seed=seed + start)
        for state, n in made.items():
            report.cards[state] = report.cards.get(state, 0) + n
        step("cards", start + len(chunk), len(ids))


def _run_domain_seeders(
    node: Node, seed: int, report: DemoReport, step: Step, seeders: tuple[str, ...]
) -> None:
    """Call every installed seeder module, each with its own random stream. A domain whose
    policy this city does not have (e.g. no fare policy), or whose deadlines run past the last
    published working-day calendar, is skipped with the reason."""
    for done, module_name in enumerate(seeders, start=1):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if module_name != missing and not module_name.startswith(missing + "."):
                raise  # the seeder exists but something it imports does not
            continue
        # A string seed is hashed deterministically: the same seed, the same data per domain.
        rng = random.Random(f"{seed}:{node.city_code}:{module_name}")
        try:
            report.figures[module_name] = dict(module.seed_demo(node, rng))
        except (PolicyError, CalendarUnavailable) as exc:
            # No policy for this city, or deadlines past the last published holiday calendar.
            report.skipped[module_name] = exc.detail
        step("domain data", done, len(seeders))


def _ensure_accounts(node: Node, report: DemoReport) -> None:
    """The first households whose head holds an active card get an e-SSC account each, with
    the relatives who also hold a card as family, and the demo PIN."""
    with node.transaction() as session:
        candidates: Sequence[int] = session.scalars(
            select(Resident.id).where(Resident.status == "active").order_by(Resident.id).limit(400)
        ).all()
        # People with relatives first: their accounts show a family.
        with_family = [r for r in candidates if registry.relatives_of(session, r)]
        ordered = with_family + [r for r in candidates if r not in set(with_family)]
        for resident_id in ordered:
            if len(report.accounts) >= DEMO_ACCOUNTS:
                break
            card = cards.current_card_of(session, resident_id)
            if card is None or card.state != CardState.ACTIVE:
                continue
            resident = registry.get_resident(session, resident_id)
            account = essc.account_of(session, resident_id)
            if account is None:
                account = essc.bind_account(
                    session, resident_id, f"demo-{resident_id}", actor=ACTOR
                )
                essc.set_pin(session, account.id, DEMO_PIN)
                for relative, _relation in registry.relatives_of(session, resident_id)[:8]:
                    if relative.status == "active":
                        essc.add_family_member(session, account.id, relative.id, actor=ACTOR)
            family = [
                registry.get_resident(session, member.relative_id).name
                for member in essc.family_of(session, account.id)
            ]
            report.accounts.append(
                DemoAccount(
                    resident_id=resident_id,
                    name=resident.name,
                    id_masked=resident.id_masked,
                    card_no=card.card_no,
                    card_ref=card.card_ref,
                    app_account_id=account.app_account_id,
                    family=family,
                    token=issue_token(
                        node,
                        account.app_account_id,
                        ["resident"],
                        resident_id=resident_id,
                        ttl=dt.timedelta(days=30),
                    ),
                )
            )
