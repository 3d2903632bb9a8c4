"""The bundle policy: every task has a deadline, illustrative values load in the demo only, and
every bundle's tasks name their domain and run after what they need."""

from __future__ import annotations

import pytest

from yikatong.bundles import service
from yikatong.bundles.models import BundleKind, TaskKind
from yikatong.core.errors import PolicyError
from yikatong.core.policy import parse_policy


def test_the_2025_policy_gives_every_task_a_deadline_and_a_funeral_grant() -> None:
    policy = service.load_bundles_policy(2026, allow_illustrative=True)
    assert policy.year == 2025  # the newest file of the year or before
    assert policy.deadlines.of(TaskKind.PENSION_START) == 15
    assert policy.funeral_grant_amount == 500_000
    assert (policy.programmes.pension, policy.programmes.funeral_grant) == (
        "pension",
        "funeral-grant",
    )


def test_illustrative_deadlines_are_refused_outside_the_demo() -> None:
    with pytest.raises(PolicyError) as refused:
        service.load_bundles_policy(2025, allow_illustrative=False)
    assert "deadlines.pension_start" in refused.value.extra["illustrative"]


def test_a_policy_without_a_task_deadline_does_not_load() -> None:
    data = service.load_bundles_policy(2025, allow_illustrative=True).model_dump()
    del data["deadlines"]["funeral_grant"]
    data["funeral_grant_amount"] = "5000"
    with pytest.raises(PolicyError) as refused:
        parse_policy(data, service.BundlesPolicy, source="test", allow_illustrative=False)
    assert "deadlines.funeral_grant" in refused.value.detail


def test_no_policy_before_the_first_file() -> None:
    with pytest.raises(PolicyError):
        service.load_bundles_policy(1990, allow_illustrative=True)


@pytest.mark.parametrize("kind", list(BundleKind))
def test_each_task_has_a_domain_and_runs_after_what_it_needs(kind: BundleKind) -> None:
    tasks = service.TASKS[kind]
    for position, task in enumerate(tasks):
        assert service.DOMAIN[task]
        needed = service.NEEDS.get(task)
        if needed is not None:
            assert tasks.index(needed) < position


def test_every_task_kind_belongs_to_exactly_one_bundle() -> None:
    listed = [task for tasks in service.TASKS.values() for task in tasks]
    assert sorted(listed) == sorted(TaskKind)
