"""The demo league (``ykt demo --league``): Qingdao, Jinan and Zhengzhou on one machine.

Each city is a node of its own — own data directory, embedded SQLite database, signing key and
demo residents (:func:`load.load_demo` with the city's geography and its own seed) — listed in one
signed league file (``federation.demo_league``). Loading also publishes every city's part of the
scenario catalogue and records the previous day's cross-city payments (visitors' bus rides and
tickets), so that a clearing run has a closed business day to net as soon as the nodes are up.
The messages this queues travel when the servers start: every node's dispatcher delivers its
outbox to the others over HTTP.

``directory/demo.json`` lists what a person (or a test) needs to try the league: each node's URL,
tokens, and a Jinan resident whose card works on a Qingdao bus.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.core.settings import Settings
from yikatong.demo.load import DemoAccount, DemoReport, Step, load_demo, write_tokens
from yikatong.federation import clearing
from yikatong.federation import service as federation
from yikatong.federation.bootstrap import BootstrappedLeague
from yikatong.federation.catalogue import load_catalogue, publish_catalogue
from yikatong.federation.demo_league import CityServer, bootstrap_demo_league, settings_of
from yikatong.node import Node, set_current

QINGDAO, JINAN, ZHENGZHOU = "370200", "370100", "410100"
TERMINAL = "terminal-demo-bus-001"
# Enough people for every city's demo accounts (and so for the visitor and yesterday's cards).
MIN_RESIDENTS = 50

# The previous day's cross-city payments: (acquiring city, issuing city, scenario, fen each).
# The issuer's cards are its first demo accounts', in turn.
YESTERDAY: tuple[tuple[str, str, str, tuple[int, ...]], ...] = (
    (QINGDAO, JINAN, "transport.bus", (200, 200, 200)),
    (QINGDAO, JINAN, "culture.scenic-spot", (3550,)),
    (JINAN, QINGDAO, "transport.metro", (200, 400)),
    (ZHENGZHOU, JINAN, "transport.bus", (200,)),
)


@dataclass(frozen=True)
class CityDemo:
    city_code: str
    name: str
    url: str
    data_dir: Path
    env_file: Path
    database: str
    tokens_file: Path
    report: DemoReport


@dataclass(frozen=True)
class LeagueDemo:
    league: BootstrappedLeague
    cities: list[CityDemo]
    visitor: DemoAccount  # a Jinan resident whose card works on a Qingdao bus
    yesterday: dt.date  # the business day of the seeded cross-city payments
    summary_file: Path

    def city(self, code: str) -> CityDemo:
        return next(c for c in self.cities if c.city_code == code)


def _port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[-1].split("/", 1)[0])


def check_ports_free(league: BootstrappedLeague) -> None:
    """Refuse to start when a city's port is taken (an earlier demo still running?)."""
    for city in league.cities:
        port = _port_of(city.endpoint)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise Conflict(
                    f"port {port} for {city.name} ({city.city_code}) is in use; stop what "
                    "listens there (an earlier demo?) or pick other ports with --base-port "
                    "and a fresh YKT_DATA_DIR"
                ) from None


def load_league_demo(
    directory: Path,
    *,
    residents: int,
    seed: int = 2024,
    base_port: int = 8101,
    progress: Callable[[str], Step] | None = None,
) -> LeagueDemo:
    """Make (once) the league in ``directory`` and load every city's demo data."""
    if residents < MIN_RESIDENTS:
        raise InvalidInput(
            f"the demo league needs at least {MIN_RESIDENTS} residents per city", field="residents"
        )
    league = bootstrap_demo_league(directory, base_port=base_port)
    ports = [_port_of(city.endpoint) for city in league.cities]
    if ports != [base_port + i for i in range(len(ports))]:
        raise Conflict(
            f"the league in {directory} listens on ports {ports}; run with --base-port "
            f"{ports[0]} or start afresh in another YKT_DATA_DIR"
        )
    cities: list[CityDemo] = []
    for index, city in enumerate(league.cities):
        node = _open(settings_of(city))
        try:
            step = progress(city.name) if progress else None
            report = load_demo(node, residents=residents, seed=seed + index, progress=step)
            if not report.already_loaded:
                with node.transaction() as session:
                    members = federation.league_of(node).cities
                    publish_catalogue(
                        session, city.city_code, members, load_catalogue(allow_illustrative=True)
                    )
            cities.append(
                CityDemo(
                    city_code=city.city_code,
                    name=city.name,
                    url=city.endpoint,
                    data_dir=city.data_dir,
                    env_file=city.env_file,
                    database=node.settings.effective_database_url,
                    tokens_file=write_tokens(node, report),
                    report=report,
                )
            )
        finally:
            _close(node)
    accounts = {c.city_code: c.report.accounts for c in cities}
    marker = _marker(league)
    yesterday = (
        dt.date.fromisoformat(marker.read_text(encoding="utf-8").strip())
        if marker.exists()
        else _seed_yesterday(league, accounts)
    )
    demo = LeagueDemo(
        league, cities, accounts[JINAN][0], yesterday, directory.resolve() / "demo.json"
    )
    demo.summary_file.write_text(
        json.dumps(summary(demo), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return demo


def _open(settings: Settings) -> Node:
    node = Node.open(settings)
    set_current(node)  # the services reach this city's keys through current()
    return node


def _close(node: Node) -> None:
    set_current(None)
    node.close()


def _seed_yesterday(league: BootstrappedLeague, accounts: dict[str, list[DemoAccount]]) -> dt.date:
    """Record the previous day's cross-city payments on each acquiring city (and queue each to
    its issuer), as they would have been recorded when approved."""
    at = clock.now() - dt.timedelta(days=1)
    by_code = {city.city_code: city for city in league.cities}
    with clock.clock_override(clock.FixedClock(at)):
        day = clock.today()
        for acquirer in dict.fromkeys(row[0] for row in YESTERDAY):
            node = _open(settings_of(by_code[acquirer]))
            try:
                with node.transaction() as session:
                    n = 0
                    for where, issuer, scenario, amounts in YESTERDAY:
                        if where != acquirer:
                            continue
                        for amount in amounts:
                            n += 1
                            card = accounts[issuer][(n - 1) % len(accounts[issuer])]
                            clearing.record_acquired_payment(
                                session,
                                own_city=acquirer,
                                issuer_city=issuer,
                                payment_ref=f"{acquirer}-demo-{day:%Y%m%d}-{n}",
                                amount=amount,
                                card_ref=card.card_ref,
                                scenario=scenario,
                            )
            finally:
                _close(node)
    _marker(league).write_text(day.isoformat() + "\n", encoding="utf-8")
    return day


def _marker(league: BootstrappedLeague) -> Path:
    return league.league_file.parent / "yesterday.txt"


def summary(demo: LeagueDemo) -> dict[str, Any]:
    """What ``demo.json`` holds: per city its URL and tokens, the visitor, the seeded day."""
    visitor = asdict(demo.visitor)
    return {
        "league_file": str(demo.league.league_file),
        "yesterday": demo.yesterday.isoformat(),
        "visitor": {**visitor, "city_code": JINAN},
        "cities": {
            c.city_code: {
                "name": c.name,
                "url": c.url,
                "env_file": str(c.env_file),
                "database": c.database,
                "tokens": c.report.staff_tokens,
                "accounts": [
                    {k: a[k] for k in ("app_account_id", "name", "card_no", "card_ref", "token")}
                    for a in map(asdict, c.report.accounts)
                ],
            }
            for c in demo.cities
        },
    }


def run_league_demo(
    console: Console, *, data_dir: Path, residents: int, seed: int, base_port: int, serve: bool
) -> int:
    """``ykt demo --league``: load the three cities, print how to use them, serve them until
    Ctrl-C (or SIGTERM) and stop all three. Returns the exit code."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from yikatong.federation.demo_league import serve_league

    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def for_city(name: str) -> Step:
            def step(what: str, done: int, total: int) -> None:
                label = f"{name} {what}"
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=total)
                bar.update(tasks[label], completed=done, total=total)

            return step

        demo = load_league_demo(
            data_dir / "league",
            residents=residents,
            seed=seed,
            base_port=base_port,
            progress=for_city,
        )
    print_league_demo(console, demo)
    if not serve:
        return 0
    check_ports_free(demo.league)
    try:
        servers = serve_league(demo.league, demo=True)
    except RuntimeError as exc:  # a node exited or did not answer; the others were stopped
        console.print(f"[red]{exc}[/]")
        return 1
    for server in servers:
        console.print(f"{server.city.name} {server.city.city_code} serving {server.url}")
    console.print("Ctrl-C stops all three nodes")
    return watch_servers(console, servers)


def watch_servers(console: Console, servers: list[CityServer]) -> int:
    """Wait until Ctrl-C/SIGTERM (stop all, exit 0) or a node dies (stop the rest, exit 1)."""
    import signal
    import time

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    # Both explicitly: a shell starting the demo in the background leaves SIGINT ignored.
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        while True:
            dead = [s for s in servers if s.process is None or s.process.poll() is not None]
            if dead:
                for server in dead:
                    console.print(
                        f"[red]{server.city.name} {server.city.city_code} stopped on its own; "
                        f"see {server.log_path}[/]"
                    )
                code = 1
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping the three nodes…")
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        for server in servers:
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("all nodes stopped")
    return code


def print_league_demo(console: Console, demo: LeagueDemo) -> None:
    from rich.table import Table

    nodes = Table(title=f"demo league {demo.league.league_file}")
    nodes.add_column("city", no_wrap=True)
    nodes.add_column("URL", no_wrap=True)
    nodes.add_column("data directory: yikatong.db, node.env (settings), demo/tokens.tsv")
    for city in demo.cities:
        nodes.add_row(f"{city.name} {city.city_code}", city.url, str(city.data_dir))
    console.print(nodes)
    for city in demo.cities:
        report = city.report
        loaded = (
            f"{report.residents} residents (already loaded)"
            if report.already_loaded
            else f"{report.residents} residents, {report.relations} family links"
        )
        accounts = Table(title=f"{city.name} {city.city_code}: {loaded}")
        for column in ("app account", "name", "ID", "card", "card ref"):
            accounts.add_column(column)
        for account in report.accounts:
            accounts.add_row(
                account.app_account_id,
                account.name,
                account.id_masked,
                account.card_no,
                account.card_ref,
            )
        console.print(accounts)
    visitor = demo.visitor
    qingdao = demo.city(QINGDAO)
    console.print(
        f"A Jinan resident on a Qingdao bus: {visitor.name} (card ref {visitor.card_ref}); a "
        f"Qingdao bus terminal asks Jinan online:\n"
        f"  curl -s -X POST {qingdao.url}/api/v1/federation/authorisations "
        f"-H 'Authorization: Bearer {qingdao.report.staff_tokens[TERMINAL]}' "
        f'-H \'Content-Type: application/json\' -d \'{{"issuer_city": "{JINAN}", '
        f'"instrument": "card", "card_ref": "{visitor.card_ref}", "amount": "2.00", '
        f'"scenario": "transport.bus"}}\'',
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        f"Yesterday ({demo.yesterday}) had cross-city payments to clear; everything above is "
        f"also in {demo.summary_file}",
        highlight=False,
    )
