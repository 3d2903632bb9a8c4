"""Qingdao (the ``node`` fixture) and, for cross-city tests, Yantai in one signed league."""

from __future__ import annotations

from tests.integration.federation.conftest import league, yantai_node

__all__ = ["league", "yantai_node"]
