"""Demo data of pension qualification certification (资格认证): the demo city's retirees, the
evidence of life the platform sees, the job's work list and a certification rate near the target.

* Retirees: the pension beneficiaries the benefits data already holds; when there are none, the
  card holders of pension age (men 60, women 55) with a payout account are enrolled in the basic
  pension (基本养老金) from the month after they reached that age.
* Silent evidence (无感认证) from the platform's own events: the rides, meals and venue entries the
  other demos made are read as they are; most other retirees ride a bus of the demo network on a
  day of the past ten months (a second reader on each line, through the transit service, each
  day then cleared), and a few were admitted to hospital or passed an airport security check:
  two small CSV files imported through the real import path.
* Negative evidence: a death registration file from civil affairs (民政) stops two pensions.
* A handful have nothing recent: their last evidence is 10–12 months old (on the app face
  check, service point and home-visit lists) or older (pension suspended). After the job ran
  (DuckDB, as of today), one of them passed the app face check, one came to a service point and
  one was seen on a home visit.

Everything goes through the services with the clock set to each moment; the day is today (the
node's clock), and no deadline falls after the end of the current year. Loading twice adds
nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import random
from dataclasses import dataclass

from yikatong.acquiring import demo as acquiring_demo
from yikatong.acquiring import service as acquiring
from yikatong.benefits import service as benefits
from yikatong.benefits.models import ProgrammeKind
from yikatong.cards import service as cards_service
from yikatong.cards.models import CardState
from yikatong.certification import evidence, rules, service
from yikatong.core import clock
from yikatong.core.errors import NotFound, PolicyError
from yikatong.core.ids import age_on
from yikatong.crypto import ed25519
from yikatong.node import Node
from yikatong.registry import service as registry
from yikatong.registry.models import Resident
from yikatong.transit import service as transit
from yikatong.transit.bank import SandboxBank

ACTOR = "demo-loader"
CLERK = "clerk-demo"
PROGRAMME = "qd-basic-pension"
MAX_RETIREES = 400
CANDIDATE_CARDS = 1000
DEATHS = 2
# seed 000: 社保卡 holders identified at these places; the sources of the imported files.
HOSPITAL_SOURCE = "qd-municipal-hospital"  # 青岛市市立医院 admissions
AIRPORT_SOURCE = "qd-jiaodong-airport"  # 青岛胶东国际机场 security checks
CIVIL_AFFAIRS_SOURCE = "qd-civil-affairs"  # 青岛市民政局 death registrations
FACE_PROVIDER = "essc-face"
RIDE_SHARE, HOSPITAL_SHARE = 0.8, 0.1  # the rest: an airport security check
RIDE_DAYS_BACK = (9, 23, 38, 52, 67, 81, 96, 124, 153, 181, 212, 243, 273, 302)
TOP_UP = 5_000  # fen (50 yuan) into each rider's transport purse (70 and over ride free)
_LOCAL = dt.timezone(dt.timedelta(hours=8))


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=_LOCAL).astimezone(dt.UTC)


def _retirement_age(resident: Resident) -> int:
    return 60 if resident.sex == "M" else 55


def _first_pension_month(resident: Resident) -> dt.date:
    reached = rules.add_months(resident.birth_date, 12 * _retirement_age(resident))
    return rules.add_months(reached.replace(day=1), 1)


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(service.IMPORT_HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


@dataclass
class _Retiree:
    resident_id: int
    person_ref: str
    first_period: dt.date
    card_no: str | None


def _enrol_retirees(node: Node, today: dt.date) -> None:
    """Enrol the card holders of pension age with a payout account in the basic pension."""
    with node.transaction() as session:
        programme = benefits.add_programme(
            session,
            code=PROGRAMME,
            kind=ProgrammeKind.BASIC_PENSION,
            name="青岛市城镇职工基本养老金",
            actor=ACTOR,
            allow_illustrative=node.settings.demo,
        )
        cards = cards_service.list_cards(session, state=CardState.ACTIVE, limit=CANDIDATE_CARDS)
        enrolled = 0
        for card in cards:
            resident = registry.get_resident(session, card.resident_id)
            if (
                resident.status != "active"
                or resident.bank_account_masked is None
                or age_on(resident.birth_date, today) < _retirement_age(resident)
            ):
                continue
            first = _first_pension_month(resident)
            if first > today:
                continue
            benefits.enrol_beneficiary(
                session, programme.id, resident.id, actor=ACTOR, first_period=first
            )
            enrolled += 1
            if enrolled >= MAX_RETIREES:
                break


def _retirees(node: Node, today: dt.date) -> list[_Retiree]:
    found: list[_Retiree] = []
    with node.transaction() as session:
        seen: set[int] = set()
        for pension in benefits.pensioners(session):
            if pension.resident_id in seen:
                continue
            seen.add(pension.resident_id)
            resident = registry.get_resident(session, pension.resident_id)
            card = cards_service.current_card_of(session, resident.id)
            found.append(
                _Retiree(
                    resident.id,
                    resident.person_ref,
                    pension.first_period,
                    card.card_no if card is not None and card.state is CardState.ACTIVE else None,
                )
            )
    return found


def seed_demo(node: Node, rng: random.Random) -> dict[str, int]:
    now = clock.now()
    today = now.astimezone(_LOCAL).date()
    policy = service.certification_policy(today.year, allow_illustrative=node.settings.demo)
    if policy.city_code != node.city_code:
        raise PolicyError(
            f"no certification policy for city {node.city_code} (the packaged one is "
            f"{policy.city}'s)"
        )
    with node.transaction() as session:
        runs = service.list_runs(session)
        if runs:
            return {"runs": len(runs)}
        has_pensioners = bool(benefits.pensioners(session))
    if not has_pensioners:
        _enrol_retirees(node, today)
    retirees = _retirees(node, today)
    if len(retirees) < 12:
        return {"retirees": len(retirees)}
    thresholds = rules.Thresholds.of(today, policy.rule)
    window_start = thresholds.expired_from + dt.timedelta(days=1)
    with node.transaction() as session:
        seen = {
            resident_id
            for resident_id, _code, _day in evidence.collect(
                session, since=window_start, until=today
            )
        }
    order = list(retirees)
    rng.shuffle(order)
    # Without events of their own: those the demo gives evidence (or none) to.
    quiet = [r for r in order if r.resident_id not in seen]
    # The handful with nothing recent were enrolled long ago (their enrolment certifies no more).
    long_ago = [r for r in quiet if r.first_period <= thresholds.suspend_from]
    # Two on the app face check list, two at a service point, one on the home-visit list and
    # one past the deadline (nothing for 13 months: pension suspended, home visit).
    handful = long_ago[:6]
    app_face, point, visit = handful[:2], handful[2:4], handful[4:5]
    deaths = [r for r in order if r not in handful][:DEATHS]
    silent = [r for r in quiet if r not in handful and r not in deaths]
    riders: list[_Retiree] = []
    hospital: list[tuple[_Retiree, dt.date]] = []
    airport: list[tuple[_Retiree, dt.date]] = []
    ride_days = _ride_days(today)
    for retiree in silent:
        draw = rng.random()
        days_back = rng.choice(RIDE_DAYS_BACK)
        if draw < RIDE_SHARE and retiree.card_no is not None and ride_days:
            riders.append(retiree)
        elif draw < RIDE_SHARE + HOSPITAL_SHARE:
            hospital.append((retiree, today - dt.timedelta(days=days_back)))
        else:
            airport.append((retiree, today - dt.timedelta(days=days_back + 1)))
    # The fallback stages: last evidence a hospital stay just inside each stage's range.
    for group, bound in (
        (app_face, thresholds.fallback_from),
        (point, thresholds.service_point_from),
        (visit, thresholds.home_visit_from),
    ):
        hospital += [(r, bound - dt.timedelta(days=3 + i)) for i, r in enumerate(group)]

    figures = {"retirees": len(retirees), "platform_events_before": len(seen & _ids(retirees))}
    figures["rides"] = _ride(node, rng, riders, ride_days, today)
    figures["imported_rows"] = _import_files(node, hospital, airport, deaths, today)
    with node.transaction() as session:
        outcome = service.run_certification(
            session,
            as_of=today,
            engine="duckdb",
            actor=ACTOR,
            allow_illustrative=node.settings.demo,
        )
    figures["run_certified"] = outcome.by_status[rules.STATUS_CERTIFIED]
    figures["run_fallback"] = outcome.by_status[rules.STATUS_FALLBACK]
    figures["suspended"] = outcome.by_status[rules.STATUS_SUSPEND]
    figures["stopped"] = outcome.by_status[rules.STATUS_NEGATIVE]
    figures["certified_by_fallback"] = _fallback_channels(node, today, now, app_face, point, visit)
    with node.transaction() as session:
        report = service.rate_report(session, as_of=today, allow_illustrative=node.settings.demo)
        pending = sum(
            len(items)
            for stage in rules.STAGES
            for items in service.work_list(session, stage=stage).values()
        )
    figures["certified"] = report.total.certified
    figures["certified_silently"] = report.total.by_channel.get("silent", 0)
    figures["fallback_pending"] = pending
    figures["rate_permille"] = report.total.certified * 1000 // max(report.total.retirees, 1)
    return figures


def _ids(retirees: list[_Retiree]) -> set[int]:
    return {r.resident_id for r in retirees}


def _ride_days(today: dt.date) -> list[dt.date]:
    """The past days on which the demo's retirees ride: those with a fare policy in force (none
    when the city has no transit network)."""
    days = []
    for back in RIDE_DAYS_BACK:
        day = today - dt.timedelta(days=back)
        try:
            transit.policy_on(day)
        except PolicyError:
            continue
        days.append(day)
    return days


def _ride(
    node: Node, rng: random.Random, riders: list[_Retiree], days: list[dt.date], today: dt.date
) -> int:
    """Each rider takes a bus on one day of the past months, on a second reader of a line
    (``BUS-<line>-02``, registered now); the purses are topped up first, and each day is
    cleared at night like any other."""
    network = acquiring_demo.demo_policy(node)
    if network is None or not riders:
        return 0
    lines = sorted(b.line for b in network.bus.lines)
    readers = {line: f"BUS-{line}-02" for line in lines}
    planned = sorted(
        (_at(rng.choice(days), rng.randint(7, 18), rng.randint(0, 59)), r.card_no or "",
         rng.choice(lines))
        for r in riders
    )  # fmt: skip
    first_day = planned[0][0].astimezone(_LOCAL).date()
    fixed = clock.FixedClock(_at(first_day - dt.timedelta(days=1), 9))
    keys: dict[str, bytes] = {}
    with clock.clock_override(fixed):
        with node.transaction() as session:
            acquiring_demo.ensure_operators(session, network)
            for line, terminal_no in readers.items():
                try:
                    acquiring.get_terminal(session, terminal_no)
                except NotFound:
                    _, private = acquiring.register_terminal(
                        session,
                        terminal_no=terminal_no,
                        merchant_code=acquiring_demo.BUS[0],
                        line=line,
                    )
                    assert private is not None
                    keys[terminal_no] = private
            bank = SandboxBank()
            for retiree in riders:
                if retiree.card_no is not None:
                    bank.deposit(
                        session,
                        card_no=retiree.card_no,
                        amount=TOP_UP,
                        reference=f"demo-cert-{retiree.card_no}",
                    )
                    transit.top_up(
                        session,
                        card_no=retiree.card_no,
                        amount=TOP_UP,
                        idempotency_key=f"demo-cert-tu-{retiree.card_no}",
                    )
        seqs = {terminal_no: itertools.count(1) for terminal_no in readers.values()}
        rides = 0
        ridden: set[dt.date] = set()
        for at, card_no, line in planned:
            fixed.set(at)
            with node.transaction() as session:
                terminal = acquiring.get_terminal(session, readers[line])
                tap = transit.authorise_ride(
                    session, terminal, terminal_seq=next(seqs[readers[line]]), card_no=card_no
                )
            if tap.status is acquiring.TapStatus.APPROVED:
                rides += 1
            ridden.add(at.astimezone(_LOCAL).date())
        for day in sorted(ridden):
            fixed.set(_at(day + dt.timedelta(days=1), 2))
            with node.transaction() as session:
                acquiring.run_clearing(session, day)
    if keys:
        path = node.settings.data_dir / "demo" / acquiring_demo.KEYS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            for terminal_no, private in keys.items():
                out.write(f"{terminal_no}\tEd25519\t{private.hex()}\n")
    return rides


def _import_files(
    node: Node,
    hospital: list[tuple[_Retiree, dt.date]],
    airport: list[tuple[_Retiree, dt.date]],
    deaths: list[_Retiree],
    today: dt.date,
) -> int:
    """The three files as their sources send them, kept in ``data_dir/demo`` and imported."""
    files = (
        ("hospital_admission", HOSPITAL_SOURCE, "ZY", hospital),
        ("travel_check", AIRPORT_SOURCE, "AJ", airport),
        (
            "death",
            CIVIL_AFFAIRS_SOURCE,
            "SW",
            [(r, today - dt.timedelta(days=20 + 9 * i)) for i, r in enumerate(deaths)],
        ),
    )
    folder = node.settings.data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    named = [r.resident_id for _, _, _, rows in files for r, _ in rows]
    with node.transaction() as session:
        numbers = registry.reveal_many(
            session,
            named,
            actor=ACTOR,
            role="admin",
            reason="demo: the files of hospitals, the airport and civil affairs name ID numbers",
            fields=["id_number"],
        )
    imported = 0
    for kind, source, prefix, rows in files:
        if not rows:
            continue
        data = _csv(
            [
                (
                    numbers[r.resident_id]["id_number"],
                    day.isoformat(),
                    f"{prefix}{day:%Y%m%d}{i:04d}",
                )
                for i, (r, day) in enumerate(sorted(rows, key=lambda x: x[1]), start=1)
            ]
        )
        (folder / f"certification-{kind}.csv").write_bytes(data)
        with node.transaction() as session:
            outcome = service.import_evidence(
                session, kind=kind, data=data, file_format="csv", source=source, actor=ACTOR
            )
        imported += outcome.added
    return imported


def _fallback_channels(
    node: Node,
    today: dt.date,
    now: dt.datetime,
    app_face: list[_Retiree],
    point: list[_Retiree],
    visit: list[_Retiree],
) -> int:
    """One retiree of each fallback list is certified through that channel today."""
    done = 0
    if app_face:
        private, public = ed25519.generate_keypair()
        with node.transaction() as session:
            service.register_identity_provider(
                session,
                code=FACE_PROVIDER,
                name="青岛人社 App 人脸识别",
                algorithm="Ed25519",
                public_key_hex=public.hex(),
                actor=ACTOR,
            )
        result = {
            "check_id": f"FACE-{today:%Y%m%d}-0001",
            "person_ref": app_face[0].person_ref,
            "outcome": "pass",
            "checked_at": (now - dt.timedelta(hours=1)).isoformat(),
            "liveness": True,
        }
        signature = service.sign_face_check(result, private, public, "Ed25519")
        with node.transaction() as session:
            if service.accept_face_check(
                session, provider_code=FACE_PROVIDER, result=result, signature_hex=signature
            ):
                done += 1
    for channel, group in (("service_point", point), ("home_visit", visit)):
        if not group:
            continue
        with node.transaction() as session:
            service.record_channel_result(
                session,
                group[0].resident_id,
                channel=channel,
                outcome="alive",
                day=today,
                reference=f"{channel.upper().replace('_', '-')}-{today:%Y%m%d}-0001",
                actor=CLERK,
            )
        done += 1
    return done
