"""Demo data of acquiring: Qingdao's bus company and metro as merchants, with a terminal on
every bus line and at every metro station of the fare policy.

The terminals' private keys are made here and written once to ``data_dir/demo/terminal-keys.tsv``
(``terminal<TAB>algorithm<TAB>hex key``), so that a person can sign terminal requests against the
demo; they are never stored in the database. Loading twice adds nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy.orm import Session

from yikatong.acquiring import service
from yikatong.core import clock
from yikatong.core.errors import NotFound, PolicyError
from yikatong.node import Node
from yikatong.transit.fares import TransitPolicy, packaged_transit_policy

BUS = ("qd-bus", "青岛公交集团")
METRO = ("qd-metro", "青岛地铁集团")
KEYS_FILE = "terminal-keys.tsv"


@dataclass(frozen=True, slots=True)
class DemoTerminal:
    terminal_no: str
    merchant: str
    line: str
    station: str | None  # metro: the station of the gate


def bus_terminal_no(line: str) -> str:
    return f"BUS-{line}-01"


def metro_terminal_no(line: str, station: str) -> str:
    return f"MTR-{line}-{station.upper()}"[:32]


def demo_terminals(policy: TransitPolicy) -> list[DemoTerminal]:
    """One reader per bus line and one exit gate per station of each metro line."""
    found = [DemoTerminal(bus_terminal_no(b.line), BUS[0], b.line, None) for b in policy.bus.lines]
    for line, stations in policy.metro.lines.items():
        found += [
            DemoTerminal(metro_terminal_no(line, station), METRO[0], line, station)
            for station in stations
        ]
    return found


def demo_policy(node: Node) -> TransitPolicy | None:
    """The city's fare policy of today, or ``None`` where the city has none (no transit demo)."""
    try:
        return packaged_transit_policy(
            node.city_code, clock.today(), allow_illustrative=node.settings.demo
        )
    except PolicyError:
        return None


def ensure_operators(session: Session, policy: TransitPolicy) -> dict[str, bytes]:
    """The bus and metro merchants and their terminals; answers the private keys of the
    terminals registered now (none when they all existed)."""
    for code, name in (BUS, METRO):
        try:
            service.get_merchant(session, code)
        except NotFound:
            kind = service.MerchantKind.BUS if code == BUS[0] else service.MerchantKind.METRO
            service.register_merchant(session, code=code, name=name, kind=kind)
    keys: dict[str, bytes] = {}
    for terminal in demo_terminals(policy):
        try:
            service.get_terminal(session, terminal.terminal_no)
        except NotFound:
            _, private = service.register_terminal(
                session,
                terminal_no=terminal.terminal_no,
                merchant_code=terminal.merchant,
                line=terminal.line,
            )
            assert private is not None
            keys[terminal.terminal_no] = private
    return keys


def seed_demo(node: Node, rng: random.Random) -> dict[str, int]:
    """Register the transport operators and their terminals (``rng`` is unused: nothing here is
    random)."""
    policy = demo_policy(node)
    if policy is None:
        return {}
    with node.transaction() as session:
        keys = ensure_operators(session, policy)
        merchants = len(service.list_merchants(session))
        terminals = len(service.list_terminals(session))
    if keys:
        path = node.settings.data_dir / "demo" / KEYS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            for terminal_no, private in keys.items():
                out.write(f"{terminal_no}\tEd25519\t{private.hex()}\n")
    return {"merchants": merchants, "terminals": terminals}
