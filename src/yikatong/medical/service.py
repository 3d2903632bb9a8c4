"""Use cases of resident medical insurance that other domains, the API and the CLI call.

Nothing here is stored yet: policies come from the packaged files, settlements are computed by
the pure rules in ``medical.rules``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from yikatong.core.errors import InvalidInput, NotFound
from yikatong.core.money import Fen, parse_yuan
from yikatong.medical.policy import (
    InstitutionLevel,
    MedicalPolicy,
    OffsiteCase,
    load_medical_policy,
)
from yikatong.medical.rules import (
    NO_FEN,
    Accumulators,
    Claim,
    ClaimItem,
    ItemClass,
    Settlement,
    settle_claim,
)


def policy_for(city: str, year: int, *, allow_illustrative: bool) -> MedicalPolicy:
    """The policy of ``city`` for cover ``year`` (NotFound when none is shipped)."""
    return load_medical_policy(city, year, allow_illustrative=allow_illustrative)


def parse_item_spec(text: str, *, field: str = "item") -> ClaimItem:
    """``"B:3:120.50"`` → class B, quantity 3, unit price 120.50 yuan."""
    parts = text.split(":")
    if len(parts) != 3:
        raise InvalidInput(
            f"{text!r} is not an item; write CLASS:QUANTITY:UNIT_PRICE, e.g. B:3:120.50",
            field=field,
        )
    raw_class, raw_quantity, raw_price = (part.strip() for part in parts)
    try:
        item_class = ItemClass(raw_class.upper())
    except ValueError:
        raise InvalidInput(
            f"{raw_class!r} is not a catalogue class; use A (甲类), B (乙类) or C (丙类)",
            field=field,
        ) from None
    if not raw_quantity.isdigit() or int(raw_quantity) < 1:
        raise InvalidInput(
            f"quantity {raw_quantity!r} must be a whole number of at least 1", field=field
        )
    price = parse_yuan(raw_price, field=field)
    if price < 0:
        raise InvalidInput(f"unit price {raw_price} cannot be negative", field=field)
    return ClaimItem(item_class, int(raw_quantity), price)


@dataclass(frozen=True)
class WhatIf:
    policy: MedicalPolicy
    settlement: Settlement


def what_if(
    city: str,
    year: int,
    *,
    institution_level: int,
    items: Sequence[ClaimItem],
    spent_ytd: Fen = NO_FEN,
    offsite: OffsiteCase | None = None,
    continuous_years: int = 0,
    personal_account: Fen = NO_FEN,
    family_account: Fen = NO_FEN,
    allow_illustrative: bool,
) -> WhatIf:
    """What a bill would cost the fund, the insurance and the patient (费用测算).

    ``spent_ytd`` is in-catalogue spending already settled this year; it is replayed as one
    class A bill at the same level so the deductible, the cap and the critical-illness running
    total stand where they would.
    """
    try:
        policy = policy_for(city, year, allow_illustrative=allow_illustrative)
    except NotFound as exc:
        raise InvalidInput(exc.detail, field="year") from None
    if spent_ytd < 0:
        raise InvalidInput("spending so far this year cannot be negative", field="spent_ytd")
    level = _level(institution_level)
    accumulators = Accumulators(year=policy.year, continuous_years=continuous_years)
    if spent_ytd > 0:
        earlier = Claim((ClaimItem(ItemClass.A, 1, spent_ytd, "spent this year"),))
        accumulators = settle_claim(
            policy, earlier, accumulators, institution_level=level, offsite=offsite
        ).accumulators
    claim = Claim(tuple(items), personal_account, family_account)
    settlement = settle_claim(policy, claim, accumulators, institution_level=level, offsite=offsite)
    return WhatIf(policy, settlement)


def _level(value: int) -> InstitutionLevel:
    try:
        return InstitutionLevel(value)
    except ValueError:
        raise InvalidInput(
            f"institution level must be 1, 2 or 3, not {value}", field="level"
        ) from None
