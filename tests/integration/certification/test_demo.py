"""The certification demo seeder on a freshly loaded demo city (with its buses and canteens),
on 2026-11-23: most retirees certified silently from the platform's own events, a handful on
the fallback lists, one certified at each fallback channel, two deaths stopping the pension,
and nothing added when it runs again."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select

from tests.support.demo_city import load_city_with_rides_and_meals
from yikatong.benefits import service as benefits
from yikatong.benefits.models import BeneficiaryStatus
from yikatong.certification import demo, rules, service
from yikatong.core import clock
from yikatong.ledger import service as ledger
from yikatong.node import Node

TODAY = dt.date(2026, 11, 23)


def test_the_demo_city_certifies_most_retirees_silently(
    node: Node, fixed_clock: clock.FixedClock
) -> None:
    load_city_with_rides_and_meals(node, fixed_clock)

    figures = demo.seed_demo(node, random.Random(3))

    assert figures["retirees"] >= 40
    assert figures["rides"] > 10 and figures["imported_rows"] >= 4
    assert figures["stopped"] == demo.DEATHS
    assert figures["certified_by_fallback"] == 3  # app face check, service point, home visit
    # Six with nothing recent: two at the app face check, two at a service point, one for a
    # home visit and one past the deadline; one of each channel is then certified there. Left:
    # one face check, one service point and the suspended one (home visit).
    assert figures["fallback_pending"] == 3
    with node.transaction() as session:
        report = service.rate_report(session, as_of=TODAY, allow_illustrative=True)
        total = report.total
        # Those stopped by a death are out of the base; the rest are certified or on a list.
        assert total.retirees == figures["retirees"] - demo.DEATHS
        assert total.certified == figures["certified"]
        assert total.rate == figures["certified"] / (figures["retirees"] - demo.DEATHS) >= 0.9
        assert total.by_channel["silent"] == figures["certified_silently"]
        assert figures["certified_silently"] >= 0.8 * total.retirees
        assert {"app_face", "service_point", "home_visit"} <= set(total.by_channel)
        states = session.scalars(select(service.State)).all()
        kinds = {s.last_kind for s in states if s.last_channel == "silent"}
        # Rides, the canteen demo's meals and the imported files all certified someone.
        assert {"transit_tap", "canteen_meal", "hospital_admission"} <= kinds
        dead = [s for s in states if s.status == rules.STATUS_NEGATIVE]
        assert len(dead) == demo.DEATHS and {s.negative_kind for s in dead} == {"death"}
        for state in dead:
            (pension,) = benefits.pensioners(session, resident_id=state.resident_id)
            assert pension.status is BeneficiaryStatus.SUSPENDED
            assert state.negative_on is not None and state.negative_on < TODAY
        work = {
            stage: sum(len(v) for v in service.work_list(session, stage=stage).values())
            for stage in rules.STAGES
        }
        assert sum(work.values()) == figures["fallback_pending"]
        late = [s for s in states if s.status == rules.STATUS_SUSPEND]
        assert len(late) == figures["suspended"] == 1
        for state in late:  # nothing for over 12 months and the grace: pension held
            (pension,) = benefits.pensioners(session, resident_id=state.resident_id)
            assert pension.status is BeneficiaryStatus.SUSPENDED and state.stage == "home_visit"
        assert ledger.verify(session) == []
    assert demo.seed_demo(node, random.Random(3)) == {"runs": 1}
