"""The API against its own OpenAPI document, property-based (schemathesis): whatever requests the
document allows, the server answers with no 5xx and as the document says (status codes, content
types, bodies), on both stores."""

from __future__ import annotations

from datetime import date

import pytest

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (the test extra) is not installed")

from hypothesis import HealthCheck, settings  # noqa: E402

from planwatch.services import ledger, users  # noqa: E402
from planwatch.web import create_app  # noqa: E402

from .conftest import REAL_OBSERVATIONS  # noqa: E402

# No 5xx, and every answer as the document says. Not schemathesis's positive_data_acceptance: a
# request the document allows may still be refused by the plan's rules (a year outside the plan's
# span, a pool without enough quota) with a documented 400.
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_schema_conformance]


def test_the_api_never_answers_5xx_nor_against_its_document(store, plan):
    from hypothesis import given

    from planwatch.services import observations

    observations.import_file(store, plan, REAL_OBSERVATIONS)
    ledger.release(store, plan, pool="floor_area:顺义区", amount="1000", year=2022, by="甲", when=date(2022, 3, 1))
    users.add_user(store, plan, "顺义编辑", "district_editor", "pw-0123456789", district="顺义区", by="管理员")
    app = create_app(open_store=lambda: store, plan_id=plan.meta.id)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    # a report download builds the whole report (tens of seconds): tested by itself in test_web.py
    operations = [op for op in (result.ok() for result in schema.get_all_operations())
                  if not op.path.startswith("/api/reports/")]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            case.call_and_validate(checks=CHECKS)

        check()
