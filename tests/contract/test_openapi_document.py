"""The served OpenAPI document is valid OpenAPI 3.1, and its links lead somewhere (issue #10)."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import OpenAPIV31SpecValidator

from coop.openapi_links import LINKS
from tests.contract.harness import OPERATIONS, operation_ids


def test_the_document_is_valid_openapi_3_1(served_document: dict[str, Any]) -> None:
    assert served_document["openapi"].startswith("3.1."), served_document["openapi"]
    errors = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in OpenAPIV31SpecValidator(served_document).iter_errors()
    ]
    assert not errors, "\n".join(errors)


def test_every_operation_has_its_documented_operation_id(served_document: dict[str, Any]) -> None:
    served = operation_ids(served_document)
    wrong = {
        name: served.get(where, "<not served>")
        for name, where in OPERATIONS.items()
        if served.get(where) != name
    }
    assert not wrong, f"operationId expected -> served: {wrong}"


def test_the_served_links_are_coop_openapi_links(served_document: dict[str, Any]) -> None:
    """Each link of ``coop.openapi_links.LINKS`` is on its operation's response, as written."""
    missing = []
    for source, by_status in LINKS.items():
        method, path = OPERATIONS[source]
        operation = served_document["paths"].get(path, {}).get(method, {})
        for status, links in by_status.items():
            served = operation.get("responses", {}).get(status, {}).get("links", {})
            missing += [
                f"{source} {status} {name}" for name in links if served.get(name) != links[name]
            ]
    assert not missing, f"{len(missing)} links not served, e.g. {missing[:5]}"


def test_each_link_names_a_known_operation_and_its_parameters() -> None:
    """Without the server: a typo in ``coop.openapi_links`` fails here, not deep in a fuzz run."""
    wrong = []
    for source, by_status in LINKS.items():
        if source not in OPERATIONS:
            wrong.append(f"{source}: unknown source operation")
            continue
        for status, links in by_status.items():
            for name, link in links.items():
                where = f"{source} {status} {name}"
                target = OPERATIONS.get(link.get("operationId", ""))
                if target is None:
                    wrong.append(f"{where}: unknown target {link.get('operationId')}")
                    continue
                if not link.get("description"):
                    wrong.append(f"{where}: no description")
                for key, expression in link.get("parameters", {}).items():
                    location, _, parameter = key.partition(".")
                    if location == "path" and f"{{{parameter}}}" not in target[1]:
                        wrong.append(f"{where}: {target[1]} has no path parameter {parameter}")
                    if location not in ("path", "query"):
                        wrong.append(f"{where}: parameter {key} names no location")
                    if not str(expression).startswith("$response.body"):
                        wrong.append(f"{where}: {key} is not taken from the response body")
                if not (link.get("parameters") or link.get("requestBody")):
                    wrong.append(f"{where}: passes nothing on")
    assert not wrong, "\n".join(wrong)


def test_every_served_link_leads_to_a_served_operation(served_document: dict[str, Any]) -> None:
    ids = set(operation_ids(served_document).values())
    dangling = [
        f"{method.upper()} {path} {status} {name} -> {link.get('operationId')}"
        for path, item in served_document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        for status, response in operation.get("responses", {}).items()
        for name, link in response.get("links", {}).items()
        if link.get("operationId") not in ids
    ]
    assert not dangling, "\n".join(dangling)
