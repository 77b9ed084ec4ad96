"""API fuzzing: schemathesis generates requests from /api/v1/openapi.json and sends them to the app
(in process, over WSGI) with the token of each role; every answer must be no 5xx, match the status
codes, content types and schemas the document declares, reject what the document says is invalid,
and be problem+json without internals when it is an error.

Budget: ``GEOVERIFY_FUZZ_EXAMPLES`` examples per operation (default 25; 16 operations in about 13 s),
derandomized so that CI is reproducible; raise it locally to search harder
(``GEOVERIFY_FUZZ_EXAMPLES=300``); ``make check``, the fast tier, sends 10.
Cases come from each operation's strategy under a plain
``@given`` (schemathesis' lazy pytest fixture loader does not run under pytest 9).
SQLite only: the backends share the API layer, and the PostgreSQL-specific hazard (NUL in text) is
refused before any query (tests/service/test_hostile_api.py checks it on both backends).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from geoverify.api import create_app
from geoverify.api.openapi import build_spec
from geoverify.store import tokens as token_store

from .conftest import GRIDS, NOW, SAMPLES, SCOPES
from .test_security import LEAKS

EXAMPLES = int(os.environ.get("GEOVERIFY_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """One app for the whole module, on a SQLite file with the sample grids and three tracks loaded."""
    path = tmp_path_factory.mktemp("fuzz") / "geoverify.db"
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{path}",
            "NOW": NOW,
            "MAX_CONTENT_LENGTH": 256 * 1024,
            "MAX_FIXES_PER_UPLOAD": 5000,
            "RATELIMIT_ENABLED": False,
        }
    )  # the rate limit is tested in test_security.py
    store = app.extensions["geoverify.store"]
    with store.write() as conn:
        app.config["FUZZ_TOKENS"] = {
            role: token_store.create(conn, role, scopes, f"fuzz-{role}")[1] for role, scopes in SCOPES.items()
        }
    client = app.test_client()
    admin = {"Authorization": f"Bearer {app.config['FUZZ_TOKENS']['admin']}"}
    uploads = [
        (GRIDS, "grids", "application/geo+json"),
        (SAMPLES / "teleport_M002.csv", "tracks", "text/csv"),
        (SAMPLES / "honest_M001.csv", "tracks", "text/csv"),
        (SAMPLES / "idle_M004.csv", "tracks", "text/csv"),
    ]
    for path, kind, mimetype in uploads:
        response = client.post(f"/api/v1/{kind}", data=path.read_bytes(), headers={**admin, "Content-Type": mimetype})
        assert response.status_code == 201, response.get_json()
    yield app
    store.dispose()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    # Query parameters the document does not name are ignored, not refused (the map page sends a few).
    loaded.config.generation.update(allow_extra_parameters=False)
    return loaded


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every documented operation, from the document of an app on an empty store."""
    app = create_app({"DATABASE_URL": "sqlite://", "MIGRATE": False})
    document = build_spec(app)
    app.extensions["geoverify.store"].dispose()
    return [(method.upper(), path) for path, operations in document["paths"].items() for method in operations]


def errors_are_clean_problems(ctx, response, case) -> None:
    """Every error is RFC 9457 problem+json whose detail a person can act on, with no internals."""
    if response.status_code < 400:
        return
    media = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    assert media == "application/problem+json", f"error {response.status_code} answered as {media!r}"
    body = response.json()
    assert body["status"] == response.status_code and len(body["detail"]) >= 20, body
    text = response.text
    leaked = [marker for marker in LEAKS if marker in text]
    assert not leaked, f"error body leaks {leaked}: {text[:300]}"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    errors_are_clean_problems,
]


@pytest.mark.parametrize("method,path", _operations(), ids=lambda value: value)
def test_api_fuzz(fuzz_app, fuzz_schema, method, path):
    operation = fuzz_schema[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    tokens = fuzz_app.config["FUZZ_TOKENS"]

    @given(case=cases, role=st.sampled_from([*sorted(tokens), None]))
    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def fuzz(case, role):
        # A case without the Authorization header (a negative case dropped it) is sent without a token.
        sends_token = role is not None and "Authorization" in (case.headers or {})
        headers = {"Authorization": f"Bearer {tokens[role]}"} if sends_token else {}
        # Over WSGI nothing undoes gzip (geoverify/api/compress.py, tested in test_day_api.py): ask for plain bodies.
        case.call_and_validate(headers={**headers, "Accept-Encoding": "identity"}, checks=CHECKS)

    fuzz()
