"""The narrow interface through which certification reads evidence of life from other domains.

A source is one function ``life_signs(session, *, since, until) -> [(resident_id, day)]``: the
latest day in the window on which each resident showed up (a medical settlement, a ride, a meal,
a venue entry, a benefit received). Certification never reads another domain's tables; it asks
each registered source for this one list, tagged with the evidence kind of the source.

Built in: medical settlements, transit taps (acquiring) and benefit receipts. The canteen and
venue domains join by exposing ``life_signs`` in their service module (listed in
:data:`_PLUGGABLE`): they are picked up as soon as the module exists.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from yikatong.acquiring import service as acquiring
from yikatong.benefits import service as benefits
from yikatong.certification import rules
from yikatong.medical import service as medical

LifeSigns = Callable[..., Iterable[tuple[int, dt.date]]]


@dataclass(frozen=True, slots=True)
class EvidenceSource:
    kind: str  # a name of rules.KINDS
    life_signs: LifeSigns


_sources: dict[str, EvidenceSource] = {}

# Domains being built beside this one: (evidence kind, service module with ``life_signs``).
_PLUGGABLE: tuple[tuple[str, str], ...] = (
    ("canteen_meal", "yikatong.canteens.service"),
    ("venue_entry", "yikatong.venues.service"),
)


def register_source(kind: str, life_signs: LifeSigns) -> None:
    """Read evidence of ``kind`` through ``life_signs`` (one source per kind)."""
    if kind not in rules.KIND_BY_NAME or rules.KIND_BY_NAME[kind].polarity != "positive":
        raise ValueError(f"{kind!r} is not a positive evidence kind of rules.KINDS")
    _sources[kind] = EvidenceSource(kind, life_signs)


def sources() -> list[EvidenceSource]:
    """Every source: the built-in ones and those of the pluggable domains now installed."""
    for kind, module_name in _PLUGGABLE:
        if kind in _sources:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # that domain is not part of this installation (yet)
            raise
        reader = getattr(module, "life_signs", None)
        if callable(reader):
            register_source(kind, reader)
    return [_sources[kind] for kind in sorted(_sources)]


def collect(
    session: Session, *, since: dt.date, until: dt.date
) -> Iterable[tuple[int, int, dt.date]]:
    """(resident, kind code, day) from every source for the window ``since``–``until``."""
    for source in sources():
        code = rules.KIND_BY_NAME[source.kind].code
        for resident_id, day in source.life_signs(session, since=since, until=until):
            yield resident_id, code, day


register_source("medical_settlement", medical.life_signs)
register_source("transit_tap", acquiring.life_signs)
register_source("benefit_receipt", benefits.life_signs)
