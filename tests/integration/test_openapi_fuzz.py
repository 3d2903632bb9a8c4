"""Schemathesis over the whole OpenAPI document: no input makes the server fail (5xx), and every
answer matches its documented schema and content type. Runs on a throw-away SQLite node."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from yikatong.api.app import create_app
from yikatong.api.auth import issue_token
from yikatong.core import db
from yikatong.core.settings import Settings
from yikatong.node import Node, set_current

_dir = Path(tempfile.mkdtemp(prefix="ykt-fuzz-"))
atexit.register(shutil.rmtree, _dir, ignore_errors=True)
_node = Node.open(Settings(data_dir=_dir, database_url=f"sqlite:///{_dir / 'fuzz.db'}"))
db.create_schema(_node.engine)
_app = create_app(node=_node)
_token = issue_token(_node, "fuzzer", ["clerk", "auditor", "admin", "terminal"])

schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_breaks_the_api(case: schemathesis.Case) -> None:
    set_current(_node)  # other tests' fixtures switch the current node
    response = case.call(headers={"Authorization": f"Bearer {_token}"})
    case.validate_response(
        response,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
