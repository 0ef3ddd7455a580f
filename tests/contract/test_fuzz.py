"""Schemathesis against the live service, from the service's own OpenAPI document (issue #10).

Two runs, both authenticated as a member council (the region's admin for the admin-only
operations), on real PostgreSQL and Redis:

- per operation: every operation with generated valid and invalid input (schemathesis'
  examples, coverage and fuzzing phases);
- stateful: chains of calls along the document's OpenAPI links (``coop.openapi_links``), so a
  home made in one step gets a bed, a void and a booking in the next ones, and is moved.

Every response must be a documented status code, of the documented content type, in the
documented shape with the documented headers, and never a 5xx; invalid input must be refused.
``COOP_FUZZ_EXAMPLES=500`` runs the long version (``docs/operations.md``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.engine.errors import is_inconsistent_replay

from tests.contract.harness import (
    ADMIN_OPERATIONS,
    FUZZ_EXAMPLES,
    LONG_RUN,
    Live,
    Market,
    with_links,
)

#: The CI budget; ``COOP_FUZZ_EXAMPLES`` raises both.
STATELESS_EXAMPLES = FUZZ_EXAMPLES or 25
STATEFUL_SCENARIOS = FUZZ_EXAMPLES or 150
STATEFUL_STEPS = 20 if LONG_RUN else 12

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",  # input the document calls invalid is refused with a 4xx
]
#: Along links, also: what was just created can be read, and what was deleted is gone.
STATEFUL_CHECKS = [*CHECKS, "ensure_resource_availability", "use_after_free"]


def _only(names: list[str]) -> dict[str, Any]:
    return {"enabled": False, **{name: {"enabled": True} for name in names}}


@pytest.fixture(scope="session")
def fuzz_schema(live: Live, served_document: dict[str, Any]) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "base-url": live.base_url,
            "request-timeout": 60,
            # The machine is shared and slow at times: that is not what these tests judge.
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "generation": {
                "max-examples": STATELESS_EXAMPLES,
                "deterministic": not LONG_RUN,  # CI sees the same cases every run
                "database": "none",
            },
            "checks": _only(CHECKS),
            "phases": {
                "stateful": {
                    "max-steps": STATEFUL_STEPS,
                    # Valid input along links builds things; invalid input (NUL bytes too) is
                    # the per-operation run's job.
                    "generation": {"mode": "positive", "allow-x00": False},
                    "checks": _only(STATEFUL_CHECKS),
                }
            },
        }
    )
    return schemathesis.openapi.from_dict(with_links(served_document), config=config)


def authorization(case: Case, market: Market) -> dict[str, str]:
    """The admin's token for the admin-only operations, the member council's for the rest."""
    operation = (case.operation.method.lower(), case.operation.path)
    party = market.admin if operation in ADMIN_OPERATIONS else market.owner
    return party.h


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's lazy schema reads ``item._nodeid``, which pytest 9.2 no longer has
    (it keeps ``item._id``): give it one, or every run stops with an AttributeError."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
def test_each_operation_answers_as_documented(case: Case, fuzz_market: Market) -> None:
    case.call_and_validate(headers=authorization(case, fuzz_market))


def test_linked_workflows_answer_as_documented(
    fuzz_schema: schemathesis.BaseSchema, fuzz_market: Market
) -> None:
    market = fuzz_market
    machine = fuzz_schema.as_state_machine()
    links = sum(len(t.outgoing) for t in machine._transitions.operations.values())
    assert links >= 40, f"only {links} links reached the state machine: see coop.openapi_links"

    seen: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    scenarios = 0

    class Workflow(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"headers": authorization(case, market)}

        def after_call(self, response: schemathesis.Response, case: Case) -> None:
            seen[case.operation.label, response.status_code] += 1

        def validate_response(self, response: schemathesis.Response, case: Case, **kw: Any) -> None:
            # Recorded, not raised: hypothesis would replay the scenario to shrink it, and the
            # server (which remembers the first run) answers a replay differently.
            try:
                super().validate_response(response, case, **kw)
            except Exception as exc:  # schemathesis' check failures, grouped or not
                failures.append(f"{case.operation.label} -> {response.status_code}: {exc}")

        def teardown(self) -> None:
            nonlocal scenarios
            scenarios += 1
            super().teardown()

    settings = hypothesis.settings(
        max_examples=STATEFUL_SCENARIOS,
        stateful_step_count=STATEFUL_STEPS,
        deadline=None,
        derandomize=not LONG_RUN,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    # The server's state outlives a scenario, so the links open up differently when hypothesis
    # walks a path it walked before, and it stops with "inconsistent data generation" (as
    # schemathesis' own runner expects: it treats that as the end of a run, not a failure).
    # Go on with fresh runs until the budget of scenarios is spent.
    for _ in range(5):
        try:
            Workflow.run(settings=settings)
        except (hypothesis.errors.Flaky, AssertionError) as exc:
            if isinstance(exc, AssertionError) and not is_inconsistent_replay(exc):
                raise
        if scenarios >= STATEFUL_SCENARIOS or failures:
            break
        settings = hypothesis.settings(settings, derandomize=False)
    assert not failures, "\n\n".join(dict.fromkeys(failures))
    assert scenarios >= STATEFUL_SCENARIOS // 2, f"only {scenarios} scenarios ran"
    # The links carried real ids: something addressed by a path parameter was found.
    followed = sorted(label for (label, status), _ in seen.items() if status < 300 and "{" in label)
    assert followed, f"no linked step reached a resource; calls by status: {sorted(seen.items())}"
