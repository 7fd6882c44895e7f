"""Property-based API tests against the OpenAPI schema (schemathesis): no 500s, responses conform.

Bounded: a few examples per operation (report and plan build charts or run many
simulations, so fewer); /api/simulate, /api/plan and /api/audit are included when their
packages are installed.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from inferplan.web.app import create_app  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())
SLOW = "^/api/(report|plan)"  # build charts / run many simulations: fewer examples
QUICK = schema.exclude(path_regex=SLOW)
HEAVY = schema.include(path_regex=SLOW)
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@QUICK.parametrize()
@settings(max_examples=25, **SETTINGS)
def test_api_conforms_to_its_schema(case):
    case.call_and_validate(checks=CHECKS)


@HEAVY.parametrize()
@settings(max_examples=5, **SETTINGS)
def test_report_and_plan_api_conform_to_their_schema(case):
    case.call_and_validate(checks=CHECKS)
