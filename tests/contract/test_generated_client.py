"""A council's generated client: ``openapi-python-client`` on the served document (issue #10).

The document is what councils build their software from. Generated as a council would
generate it, the client must build without the generator leaving anything out, import, and
do the documented walk: a token by client credentials, a home and a void published by one
council, a bed requested by another, all through the generated functions.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import typing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from openapi_python_client.strings import snake_case

from coop.clock import Clock
from tests.contract.harness import OPERATIONS, Live, Market, Party, enrol, operation_ids
from tests.support import child, home_payload

PACKAGE = "coop_council_client"


@dataclass
class Generated:
    package: ModuleType
    root: Path
    output: str  # what the generator said
    operation_ids: dict[tuple[str, str], str]

    def endpoint(self, name: str) -> ModuleType:
        """The generated module of the operation ``OPERATIONS[name]``, whatever its served id."""
        served = self.operation_ids.get(OPERATIONS[name])
        assert served, f"{name} {OPERATIONS[name]} is not in the served document"
        found = sorted((self.root / "api").glob(f"*/{snake_case(served)}.py"))
        assert len(found) == 1, f"no single generated module for {served}: {found}"
        module = found[0].relative_to(self.root.parent).with_suffix("")
        return importlib.import_module(".".join(module.parts))

    def body(self, name: str, data: dict[str, Any]) -> Any:
        """``data`` as the generated model the operation takes as its body."""
        hints = typing.get_type_hints(self.endpoint(name).sync_detailed)
        assert "body" in hints, f"the generated {name} takes no body: the document gives none"
        for model in typing.get_args(hints["body"]) or (hints["body"],):
            if hasattr(model, "from_dict"):
                return model.from_dict(data)
        raise AssertionError(f"the generated {name} has no model for its body: {hints['body']}")


@pytest.fixture(scope="module")
def generated(
    live: Live, served_document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> typing.Iterator[Generated]:
    where = tmp_path_factory.mktemp("generated-client")
    document = where / "openapi.json"
    document.write_text(json.dumps(served_document))
    bin_dir = str(Path(sys.executable).parent)  # its post-generation hooks run ruff from here
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(where / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"openapi-python-client failed ({result.returncode}):\n{output}"
    sys.path.insert(0, str(where))
    try:
        package = importlib.import_module(PACKAGE)
        yield Generated(
            package=package,
            root=where / PACKAGE,
            output=output,
            operation_ids=operation_ids(served_document),
        )
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_the_client_generates_without_warnings(generated: Generated) -> None:
    """A warning means the generator left a piece of the API out of the client."""
    lines = generated.output.splitlines()
    warnings = [line for line in lines if "warning" in line.lower()]
    assert not warnings, generated.output


def _token(generated: Generated, live: Live, party: Party) -> str:
    """The documented flow: ``grant_type=client_credentials``, HTTP Basic client auth."""
    client = generated.package.Client(
        base_url=live.base_url,
        httpx_args={"auth": httpx.BasicAuth(party.client_id, party.client_secret)},
    )
    body = generated.body("getToken", {"grant_type": "client_credentials"})
    r = generated.endpoint("getToken").sync_detailed(client=client, body=body)
    assert r.status_code == 200, r.content
    return r.parsed.access_token


def test_a_council_publishes_and_another_requests_through_the_generated_client(
    generated: Generated, live: Live, market: Market
) -> None:
    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        owner = enrol(http, market.admin, market.region, "gen-owner")
        buyer = enrol(http, market.admin, market.region, "gen-buyer")
    as_owner = generated.package.AuthenticatedClient(
        base_url=live.base_url, token=_token(generated, live, owner)
    )
    as_buyer = generated.package.AuthenticatedClient(
        base_url=live.base_url, token=_token(generated, live, buyer)
    )
    today = Clock().today()

    r = generated.endpoint("createHome").sync_detailed(
        client=as_owner, body=generated.body("createHome", home_payload())
    )
    assert r.status_code == 201, r.content
    home = r.parsed
    assert home.owner == owner.authority and len(home.beds) == 2

    void_in = {"bed_id": home.beds[0].id, "available_from": today.isoformat()}
    r = generated.endpoint("publishVoid").sync_detailed(
        client=as_owner, body=generated.body("publishVoid", void_in)
    )
    assert r.status_code == 201, r.content
    void = r.parsed
    assert void.bed_id == home.beds[0].id and void.status == "open"

    booking_in = {
        "void_id": void.id,
        "child": child(),
        "urgency": "planned",
        "start_date": (today + timedelta(days=14)).isoformat(),
        "end_date": (today + timedelta(days=60)).isoformat(),
    }
    r = generated.endpoint("createBooking").sync_detailed(
        client=as_buyer, body=generated.body("createBooking", booking_in)
    )
    assert r.status_code == 201, r.content
    booking = r.parsed
    assert booking.void_id == void.id and booking.requester == buyer.authority
    assert booking.owner == owner.authority and booking.status in ("pending", "offered")

    r = generated.endpoint("getBooking").sync_detailed(booking.id, client=as_owner)
    assert r.status_code == 200, r.content
    assert r.parsed.id == booking.id
