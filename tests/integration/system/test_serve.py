"""``ykt serve`` and ``ykt demo`` start the server through ``run_server``."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from yikatong.api.app import create_app, run_server
from yikatong.api.system import MAX_CONCURRENT_REQUESTS
from yikatong.core.settings import Settings
from yikatong.node import Node


def test_start_up_objects_are_out_of_the_collectors_reach_before_serving(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    node = Node.open(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/s.db"))
    app = create_app(node=node)
    seen: dict[str, Any] = {}

    def serve(application: object, **options: Any) -> None:
        # The server proper (uvicorn's loop) starts here; what it would serve is checked instead.
        seen.update(application=application, frozen=gc.get_freeze_count(), **options)

    monkeypatch.setattr(uvicorn, "run", serve)
    try:
        run_server(app, host="127.0.0.1", port=8123)
    finally:
        gc.unfreeze()
        node.close()
    assert seen["application"] is app
    assert seen["frozen"] > 50_000  # the application's routes, schemas and modules
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    assert seen["limit_concurrency"] == MAX_CONCURRENT_REQUESTS
