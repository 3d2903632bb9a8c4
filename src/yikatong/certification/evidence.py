"""The narrow interface through which certification reads evidence of life from other domains.

A source is one function ``life_signs(session, *, since, until) -> [(resident_id, day)]``: the
latest local day in the window on which each resident showed up, tagged with the evidence kind
of the source. Certification reads another domain only through its service module.

Built in, one source per platform event the rule names:

* ``medical_settlement``: settled medical claims (``medical.life_signs``);
* ``transit_tap``: rides, i.e. charged or owed taps at **bus and metro** terminals only. A card
  payment at a canteen till, a venue or a shop is also an acquiring tap, but it is not a ride:
  counting every tap as a ride would name the wrong evidence (``acquiring.ride_life_signs``);
* ``canteen_meal``: meals served at an elderly canteen (``canteens.life_signs``);
* ``venue_entry``: admissions at a venue gate (``venues.life_signs``);
* ``benefit_receipt``: benefits other than the pension paid out (``benefits.life_signs``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from yikatong.acquiring import service as acquiring
from yikatong.benefits import service as benefits
from yikatong.canteens import service as canteens
from yikatong.certification import rules
from yikatong.medical import service as medical
from yikatong.venues import service as venues

LifeSigns = Callable[..., Iterable[tuple[int, dt.date]]]


@dataclass(frozen=True, slots=True)
class EvidenceSource:
    kind: str  # a name of rules.KINDS
    life_signs: LifeSigns


_sources: dict[str, EvidenceSource] = {}


def register_source(kind: str, life_signs: LifeSigns) -> None:
    """Read evidence of ``kind`` through ``life_signs`` (one source per kind)."""
    if kind not in rules.KIND_BY_NAME or rules.KIND_BY_NAME[kind].polarity != "positive":
        raise ValueError(f"{kind!r} is not a positive evidence kind of rules.KINDS")
    _sources[kind] = EvidenceSource(kind, life_signs)


def sources() -> list[EvidenceSource]:
    """Every registered source, by kind."""
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
register_source("transit_tap", acquiring.ride_life_signs)
register_source("canteen_meal", canteens.life_signs)
register_source("venue_entry", venues.life_signs)
register_source("benefit_receipt", benefits.life_signs)
