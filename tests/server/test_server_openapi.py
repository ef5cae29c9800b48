"""The OpenAPI document against the running server: schemathesis finds no 5xx and no schema violation.

A short property-based run (few examples per operation) over a SQLite
server, with the admin token as credential. bench/api_fuzz.py runs the
longer version through the schemathesis command line.
"""

from __future__ import annotations

import secrets

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from server.app import create_app
from tests.server.conftest import start_server, stop_server

TOKEN = secrets.token_urlsafe(32)
CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.status_code_conformance,
    checks.content_type_conformance,
]


def _document() -> dict:
    app = create_app("sqlite://", TOKEN)
    document = app.openapi()
    app.state.engine.dispose()
    return document


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    app = create_app(f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'server.db'}", TOKEN)
    server, thread, sock, base_url = start_server(app)
    yield base_url
    stop_server(server, thread, sock)


def test_document_lists_error_bodies():
    document = _document()
    components = document["components"]["schemas"]
    assert "HTTPValidationError" not in components
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "401" in operation["responses"], f"{method.upper()} {path} does not document 401"
            assert "422" in operation["responses"], f"{method.upper()} {path} does not document 422"


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_schema(case, server_url):
    case.call_and_validate(base_url=server_url, headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)
