"""The venue policy of a city-year (``policies/<city>/venues-<year>.yaml``) as validated data:
venue categories, card-category concessions (优惠票), booking horizon and gate rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from yikatong.core.ids import age_on
from yikatong.core.policy import load_policy_file, packaged_policy_in_force
from yikatong.venues.models import VenueCategory

CONCESSION_CATEGORIES = ("disabled", "veteran", "student")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgeBand(_Strict):
    min_age: int = Field(ge=0, le=150)
    pays_percent: int = Field(ge=0, le=100)


class Concessions(_Strict):
    by_age: list[AgeBand]
    by_category: dict[str, int]

    @model_validator(mode="after")
    def _complete(self) -> Concessions:
        ages = [band.min_age for band in self.by_age]
        if ages != sorted(set(ages), reverse=True):
            raise ValueError("age bands are listed oldest first, each min_age once")
        missing = [c for c in CONCESSION_CATEGORIES if c not in self.by_category]
        unknown = [c for c in self.by_category if c not in CONCESSION_CATEGORIES]
        if missing or unknown:
            raise ValueError(
                f"by_category names exactly {', '.join(CONCESSION_CATEGORIES)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        if any(not 0 <= v <= 100 for v in self.by_category.values()):
            raise ValueError("a concession pays between 0 and 100 percent of the price")
        return self


class Booking(_Strict):
    horizon_days: int = Field(ge=0, le=366)


class EntryRules(_Strict):
    duplicate_window_seconds: int = Field(ge=0, le=24 * 3600)
    early_minutes: int = Field(ge=0, le=24 * 60)


class Passes(_Strict):
    max_validity_days: int = Field(ge=1, le=3 * 366)


class VenuePolicy(_Strict):
    city: str
    city_code: str = Field(pattern=r"^\d{6}$")
    year: int
    valid_from: dt.date
    valid_until: dt.date
    sources: list[str]
    categories: dict[str, str]
    concessions: Concessions
    booking: Booking
    entry: EntryRules
    passes: Passes

    @model_validator(mode="after")
    def _categories(self) -> VenuePolicy:
        expected = {c.value for c in VenueCategory}
        if set(self.categories) != expected:
            raise ValueError(f"categories are exactly {', '.join(sorted(expected))}")
        return self

    def concession(self, birth_date: dt.date, categories: set[str], on: dt.date) -> tuple[str, int]:
        """The most favourable concession for a holder on a day: (name, percent paid)."""
        best = ("none", 100)
        age = age_on(birth_date, on)
        for band in self.concessions.by_age:
            if age >= band.min_age:
                best = min(best, (f"age_{band.min_age}", band.pays_percent), key=lambda c: c[1])
                break
        for category in CONCESSION_CATEGORIES:
            if category in categories:
                percent = self.concessions.by_category[category]
                if percent < best[1]:
                    best = (category, percent)
        return best


def price_after(full_price: int, percent: int) -> int:
    """What is paid at ``percent`` of the full price, rounded down to the fen (in the holder's
    favour)."""
    return full_price * percent // 100


def load_venue_policy(path: Path, *, allow_illustrative: bool) -> VenuePolicy:
    return load_policy_file(path, VenuePolicy, allow_illustrative=allow_illustrative)


def packaged_venue_policy(city_code: str, on: dt.date, *, allow_illustrative: bool) -> VenuePolicy:
    """The packaged venue policy of a city in force on a date (``<city>/venues-<year>.yaml``)."""
    return packaged_policy_in_force(
        "venues", VenuePolicy, city_code, on, allow_illustrative=allow_illustrative
    )
