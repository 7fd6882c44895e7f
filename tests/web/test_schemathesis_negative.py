"""Schemathesis with *invalid* requests (negative mode: wrong types, out-of-range and missing
fields, unknown keys): every one is a client error, never a 5xx."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from inferplan.web.app import create_app  # noqa: E402

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())
schema.config.generation.update(modes=[GenerationMode.NEGATIVE])
QUICK = schema.exclude(path_regex="^/api/(report|plan)")


@QUICK.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_invalid_requests_are_client_errors(case):
    case.call_and_validate(checks=[not_a_server_error])
