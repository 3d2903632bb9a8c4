"""The cross-city scenario catalogue (一卡通应用目录): 6 domains, 26 scenarios (seed 003).

Each city publishes, scenario by scenario, which other cities' cards it accepts and on what terms
(e.g. free rides for visiting elderly from a given age). A node loads its own part of the league
catalogue file (``policies/federation/catalogue.yaml``) with :func:`publish_catalogue`, which stores
it and sends it to every other member through the outbox (payload ``catalogue.published``), so each
node holds every city's catalogue. A terminal or service calls :func:`check_scenario` before it
accepts a card of another city; the acceptance service does so when given a scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from yikatong.core import clock
from yikatong.core.errors import InvalidInput, NotFound
from yikatong.core.policy import load_policy_file, packaged_policy_path
from yikatong.federation.envelope import Envelope
from yikatong.federation.models import CatalogueEntry
from yikatong.federation.service import register_handler, send

Domain = Literal["人社", "医保", "交通", "文旅", "政务惠民", "金融"]
CITY = r"^\d{6}$"
PAYLOAD = "catalogue.published"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scenario(_Model):
    id: str = Field(pattern=r"^[a-z]+\.[a-z-]+$", max_length=64)
    domain: Domain
    name: str = Field(min_length=1, max_length=64)


class Offer(_Model):
    accepts: list[str] = Field(default_factory=list)
    terms: dict[str, str | int] = Field(default_factory=dict)
    note: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _cities(self) -> Offer:
        for city in self.accepts:
            if len(city) != 6 or not city.isdigit():
                raise ValueError(f"{city!r} is not a six-digit city code")
        return self


class Publication(_Model):
    name: str
    default_accepts: list[str]
    scenarios: dict[str, Offer] = Field(default_factory=dict)


class Catalogue(_Model):
    version: int = Field(ge=1)
    league: str
    domains: list[Domain]
    scenarios: list[Scenario]
    publications: dict[str, Publication]

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        ids = [s.id for s in self.scenarios]
        if len(set(ids)) != len(ids):
            raise ValueError("a scenario id is listed twice")
        for city, publication in self.publications.items():
            unknown = set(publication.scenarios) - set(ids)
            if unknown:
                raise ValueError(f"city {city} publishes unknown scenarios {sorted(unknown)}")
        return self

    def offers_of(self, city_code: str) -> dict[str, tuple[Scenario, Offer]]:
        """Every scenario with ``city_code``'s offer (its default where it lists none)."""
        publication = self.publications.get(city_code)
        if publication is None:
            raise NotFound(f"the catalogue has no publication for city {city_code}")
        default = Offer(accepts=publication.default_accepts)
        return {s.id: (s, publication.scenarios.get(s.id, default)) for s in self.scenarios}


def load_catalogue(path: Path | None = None, *, allow_illustrative: bool = False) -> Catalogue:
    return load_policy_file(
        path or packaged_policy_path("federation", "catalogue.yaml"),
        Catalogue,
        allow_illustrative=allow_illustrative,
    )


@dataclass(frozen=True)
class ScenarioVerdict:
    """May a card of ``card_city`` be used for ``scenario`` in ``city_code``, and on what terms."""

    accepted: bool
    city_code: str
    scenario: str
    card_city: str
    reason: str
    terms: dict[str, Any] = field(default_factory=dict)


def _store(session: Session, city_code: str, version: int, entries: list[dict[str, Any]]) -> None:
    session.execute(delete(CatalogueEntry).where(CatalogueEntry.city_code == city_code))
    now = clock.now()
    for entry in entries:
        session.add(
            CatalogueEntry(
                city_code=city_code,
                scenario=entry["scenario"],
                domain=entry["domain"],
                name=entry["name"],
                accepts=list(entry["accepts"]),
                terms=dict(entry["terms"]),
                note=entry.get("note"),
                version=version,
                published_at=now,
            )
        )
    session.flush()


def publish_catalogue(
    session: Session, city_code: str, members: frozenset[str], catalogue: Catalogue
) -> int:
    """Store this city's catalogue and queue it for every other member; returns the scenarios."""
    entries = [
        {
            "scenario": scenario.id,
            "domain": scenario.domain,
            "name": scenario.name,
            "accepts": sorted(offer.accepts),
            "terms": offer.terms,
            "note": offer.note,
        }
        for scenario, offer in catalogue.offers_of(city_code).values()
    ]
    _store(session, city_code, catalogue.version, entries)
    for member in sorted(members - {city_code}):
        send(
            session,
            member,
            "catalogue",
            PAYLOAD,
            {"version": catalogue.version, "entries": entries},
        )
    return len(entries)


def catalogue_of(session: Session, city_code: str) -> list[CatalogueEntry]:
    return list(
        session.scalars(
            select(CatalogueEntry)
            .where(CatalogueEntry.city_code == city_code)
            .order_by(CatalogueEntry.id)
        )
    )


def check_scenario(
    session: Session, *, city_code: str, scenario: str, card_city: str
) -> ScenarioVerdict:
    """Check the catalogue of ``city_code`` before accepting a card of ``card_city`` there."""
    if len(card_city) != 6 or not card_city.isdigit():
        raise InvalidInput("card_city must be a six-digit city code", field="card_city")
    entry = session.scalars(
        select(CatalogueEntry).where(
            CatalogueEntry.city_code == city_code, CatalogueEntry.scenario == scenario
        )
    ).one_or_none()

    def verdict(
        accepted: bool, reason: str, terms: dict[str, Any] | None = None
    ) -> ScenarioVerdict:
        return ScenarioVerdict(accepted, city_code, scenario, card_city, reason, terms or {})

    if entry is None:
        known = session.scalar(
            select(CatalogueEntry.id).where(CatalogueEntry.city_code == city_code).limit(1)
        )
        if known is None:
            return verdict(False, f"city {city_code} has published no catalogue")
        return verdict(False, f"{scenario} is not a scenario of the catalogue")
    if card_city == city_code:
        return verdict(True, "own city's card", {})
    if card_city not in entry.accepts:
        return verdict(False, f"{entry.name} in {city_code} does not accept cards of {card_city}")
    return verdict(True, f"{entry.name} accepts cards of {card_city}", entry.terms)


def _apply_published(session: Session, envelope: Envelope) -> None:
    body = envelope.body
    entries = body.get("entries")
    version = body.get("version")
    if not isinstance(entries, list) or not isinstance(version, int):
        raise ValueError("a catalogue needs a version and a list of entries")
    for entry in entries:
        if (
            not isinstance(entry, dict)
            or not {"scenario", "domain", "name", "accepts", "terms"} <= entry.keys()
        ):
            raise ValueError(f"catalogue entry {entry!r} lacks fields")
    _store(session, envelope.sender, version, entries)


register_handler(PAYLOAD, _apply_published)
