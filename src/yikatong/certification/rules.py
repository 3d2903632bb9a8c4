"""The rules of pension qualification certification (资格认证), written once as SQL.

One SQL text (:data:`RULES_SQL`) decides every retiree's state; it is run as it is by DuckDB (the
default, one machine) and by PySpark (province scale). It uses only what both dialects read the
same way: ``DATE 'yyyy-mm-dd'`` literals, ``GROUP BY``, ``LEFT JOIN``, ``CASE``, ``MIN``/``MAX``.
Dates that depend on the as-of day (window start, fallback stages, deadline) are computed once in
Python (:class:`Thresholds`) and put into the SQL as literals, so both engines compare the same
dates.

Inputs (Parquet, or tables registered under these names):

* ``retirees(resident_id BIGINT, district_code VARCHAR)``: the pensioners to certify;
* ``evidence(resident_id BIGINT, kind SMALLINT, occurred_on DATE)``: one row per event, the kind a
  code of :data:`KINDS`;
* ``evidence_kind(kind, name, polarity, channel, rank)``: :data:`KINDS` itself.

Rules (DOMAIN.md §2.8):

* positive evidence on day E certifies through E + 12 months: certified as of D when
  E > D − 12 months (so evidence exactly 12 months old no longer counts);
* negative evidence (death, imprisonment, emigration) on or before D wins over any positive
  evidence: payment stops at once;
* those whose certification runs out within ``lead_days`` go to the fallback channels in order:
  app face check, then service point, then a home visit by staff;
* unconfirmed ``grace_days`` after the 12 months: the pension is suspended.

Output, one row per retiree: ``resident_id, district_code, status, stage, last_positive_on,
last_kind, last_channel, negative_kind, negative_on`` (see :data:`RESULT_COLUMNS`).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Literal

Polarity = Literal["positive", "negative"]

STATUS_CERTIFIED = "certified"
STATUS_FALLBACK = "fallback"
STATUS_SUSPEND = "suspend"
STATUS_NEGATIVE = "negative"
STATUSES = (STATUS_CERTIFIED, STATUS_FALLBACK, STATUS_SUSPEND, STATUS_NEGATIVE)

# Fallback channels, in the order a retiree is sent through them (seed 000).
STAGE_APP_FACE = "app_face"
STAGE_SERVICE_POINT = "service_point"
STAGE_HOME_VISIT = "home_visit"
STAGES = (STAGE_APP_FACE, STAGE_SERVICE_POINT, STAGE_HOME_VISIT)


@dataclass(frozen=True, slots=True)
class EvidenceKind:
    code: int
    name: str
    polarity: Polarity
    channel: str  # how the certification was obtained, for the rate report
    rank: int  # on the same day, the lower rank names the evidence (unique)


# The channel "silent" (无感认证) is every event the platform sees anyway.
KINDS: tuple[EvidenceKind, ...] = (
    EvidenceKind(1, "medical_settlement", "positive", "silent", 6),
    EvidenceKind(2, "transit_tap", "positive", "silent", 8),
    EvidenceKind(3, "canteen_meal", "positive", "silent", 9),
    EvidenceKind(4, "venue_entry", "positive", "silent", 10),
    EvidenceKind(5, "benefit_receipt", "positive", "silent", 11),
    EvidenceKind(6, "hospital_admission", "positive", "silent", 5),
    EvidenceKind(7, "travel_check", "positive", "silent", 7),
    EvidenceKind(10, "app_face", "positive", "app_face", 3),
    EvidenceKind(11, "service_point", "positive", "service_point", 1),
    EvidenceKind(12, "home_visit", "positive", "home_visit", 2),
    EvidenceKind(13, "remote_city", "positive", "remote_city", 4),
    EvidenceKind(14, "enrolment", "positive", "service_point", 12),
    EvidenceKind(20, "death", "negative", "negative", 101),
    EvidenceKind(21, "imprisonment", "negative", "negative", 102),
    EvidenceKind(22, "emigration", "negative", "negative", 103),
)
KIND_BY_NAME = {k.name: k for k in KINDS}
KIND_BY_CODE = {k.code: k for k in KINDS}
NEGATIVE_KINDS = tuple(k.name for k in KINDS if k.polarity == "negative")
CHANNELS = ("silent", "app_face", "service_point", "home_visit", "remote_city")

RESULT_COLUMNS = (
    "resident_id",
    "district_code",
    "status",
    "stage",
    "last_positive_on",
    "last_kind",
    "last_channel",
    "negative_kind",
    "negative_on",
)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, the day clamped to the month's end (31 Mar − 1 = 28 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


@dataclass(frozen=True, slots=True)
class RuleParameters:
    """The numbers of the rule (from the certification policy file)."""

    validity_months: int = 12
    lead_days: int = 60
    app_face_days: int = 20
    service_point_days: int = 20
    grace_days: int = 30


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The as-of dependent dates the SQL compares ``last_positive_on`` with.

    A retiree whose last positive evidence is on day E is: certified when E > ``fallback_from``;
    at the app face check when ``service_point_from`` < E ≤ ``fallback_from``; at a service point
    when ``home_visit_from`` < E ≤ ``service_point_from``; on the home-visit list below that; and
    suspended when E ≤ ``suspend_from`` (or no evidence at all). Expired (not certified any
    more) when E ≤ ``expired_from``.
    """

    as_of: dt.date
    expired_from: dt.date
    fallback_from: dt.date
    service_point_from: dt.date
    home_visit_from: dt.date
    suspend_from: dt.date

    @classmethod
    def of(cls, as_of: dt.date, rule: RuleParameters) -> Thresholds:
        back = -rule.validity_months
        lead = dt.timedelta(days=rule.lead_days)
        face = dt.timedelta(days=rule.app_face_days)
        point = dt.timedelta(days=rule.service_point_days)
        return cls(
            as_of=as_of,
            expired_from=add_months(as_of, back),
            fallback_from=add_months(as_of + lead, back),
            service_point_from=add_months(as_of + lead - face, back),
            home_visit_from=add_months(as_of + lead - face - point, back),
            suspend_from=add_months(as_of - dt.timedelta(days=rule.grace_days), back),
        )


def valid_until(last_positive_on: dt.date, rule: RuleParameters) -> dt.date:
    """The first day on which evidence of ``last_positive_on`` no longer certifies."""
    return add_months(last_positive_on, rule.validity_months)


RULES_SQL = """
WITH ev AS (
    SELECT resident_id, kind, MAX(occurred_on) AS last_on
    FROM evidence
    WHERE occurred_on <= DATE '{as_of}'
    GROUP BY resident_id, kind
),
kev AS (
    SELECT ev.resident_id, ev.last_on, k.polarity, k.rank
    FROM ev JOIN evidence_kind k ON k.kind = ev.kind
),
pos AS (
    SELECT resident_id, MAX(last_on) AS last_positive_on
    FROM kev WHERE polarity = 'positive'
    GROUP BY resident_id
),
pos_best AS (
    SELECT kev.resident_id, MIN(kev.rank) AS best_rank
    FROM kev JOIN pos ON pos.resident_id = kev.resident_id AND kev.last_on = pos.last_positive_on
    WHERE kev.polarity = 'positive'
    GROUP BY kev.resident_id
),
neg AS (
    SELECT resident_id, MIN(rank) AS neg_rank
    FROM kev WHERE polarity = 'negative'
    GROUP BY resident_id
),
neg_on AS (
    SELECT kev.resident_id, MIN(kev.last_on) AS negative_on
    FROM kev JOIN neg ON neg.resident_id = kev.resident_id AND kev.rank = neg.neg_rank
    GROUP BY kev.resident_id
)
SELECT
    r.resident_id AS resident_id,
    r.district_code AS district_code,
    CASE
        WHEN neg.resident_id IS NOT NULL THEN 'negative'
        WHEN pos.last_positive_on IS NULL OR pos.last_positive_on <= DATE '{suspend_from}'
            THEN 'suspend'
        WHEN pos.last_positive_on <= DATE '{fallback_from}' THEN 'fallback'
        ELSE 'certified'
    END AS status,
    CASE
        WHEN neg.resident_id IS NOT NULL THEN NULL
        WHEN pos.last_positive_on IS NULL OR pos.last_positive_on <= DATE '{home_visit_from}'
            THEN 'home_visit'
        WHEN pos.last_positive_on <= DATE '{service_point_from}' THEN 'service_point'
        WHEN pos.last_positive_on <= DATE '{fallback_from}' THEN 'app_face'
        ELSE NULL
    END AS stage,
    pos.last_positive_on AS last_positive_on,
    pk.name AS last_kind,
    pk.channel AS last_channel,
    nk.name AS negative_kind,
    neg_on.negative_on AS negative_on
FROM retirees r
LEFT JOIN pos ON pos.resident_id = r.resident_id
LEFT JOIN pos_best ON pos_best.resident_id = r.resident_id
LEFT JOIN evidence_kind pk ON pk.rank = pos_best.best_rank
LEFT JOIN neg ON neg.resident_id = r.resident_id
LEFT JOIN evidence_kind nk ON nk.rank = neg.neg_rank
LEFT JOIN neg_on ON neg_on.resident_id = r.resident_id
"""


def render(thresholds: Thresholds) -> str:
    """The rules SQL for one as-of day (only dates from :class:`Thresholds` are substituted)."""
    return RULES_SQL.format(
        as_of=thresholds.as_of.isoformat(),
        suspend_from=thresholds.suspend_from.isoformat(),
        fallback_from=thresholds.fallback_from.isoformat(),
        service_point_from=thresholds.service_point_from.isoformat(),
        home_visit_from=thresholds.home_visit_from.isoformat(),
    )


def kind_rows() -> list[tuple[int, str, str, str, int]]:
    """:data:`KINDS` as rows of the ``evidence_kind`` table."""
    return [(k.code, k.name, k.polarity, k.channel, k.rank) for k in KINDS]
