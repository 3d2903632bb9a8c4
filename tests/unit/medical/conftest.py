"""Policies for the medical rule tests: the shipped Qingdao files, and variants built from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from yikatong.core.policy import packaged_policy_path, parse_policy
from yikatong.medical.policy import MedicalPolicy, load_medical_policy

PolicyData = dict[str, Any]


def qingdao_yaml(year: int) -> Path:
    return packaged_policy_path("qingdao", f"{year}.yaml")


def qingdao_data(year: int) -> PolicyData:
    data: PolicyData = yaml.safe_load(qingdao_yaml(year).read_text(encoding="utf-8"))
    return data


def policy_from(data: PolicyData) -> MedicalPolicy:
    policy, _ = parse_policy(data, MedicalPolicy, source="test", allow_illustrative=True)
    return policy


@pytest.fixture(scope="session")
def qd2024() -> MedicalPolicy:
    return load_medical_policy("qingdao", 2024, allow_illustrative=True)


@pytest.fixture(scope="session")
def qd2025() -> MedicalPolicy:
    return load_medical_policy("qingdao", 2025, allow_illustrative=True)


@pytest.fixture
def qd2025_with() -> Callable[[Callable[[PolicyData], None]], MedicalPolicy]:
    """``qd2025_with(lambda d: d["settlement"].update(...))``: the 2025 file, changed."""

    def build(change: Callable[[PolicyData], None]) -> MedicalPolicy:
        data = qingdao_data(2025)
        change(data)
        return policy_from(data)

    return build
