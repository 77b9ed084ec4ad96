"""The OpenAPI document is generated from the views and is a valid OpenAPI 3 document."""

from __future__ import annotations

from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_complete(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    validate(spec)
    assert spec["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") and rule.rule != "/api/v1/openapi.json":
            path = rule.rule.replace("<", "{").replace(">", "}")
            routed |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    # the index, 14 resources, 4 read endpoints of the map page under /api/v1/map (the day overview's
    # /map/day among them), assessment, and the auditor's queue and a review's preview under /api/v1/flags
    assert len(routed) == 22
    review = spec["paths"]["/api/v1/flags/{flag_id}/review"]["post"]
    assert review["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Review"}
    assert "auditor" in review["description"] and review["security"] == [{"bearer": []}]
    assert spec["components"]["schemas"]["Review"]["properties"]["overturn"]["type"] == "boolean"
    assert spec["paths"]["/api/v1/credits"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreditPage"
    }
    # What the service refuses is in the document, so that clients (and the fuzzer) know it.
    tracks = spec["paths"]["/api/v1/tracks"]["post"]
    assert {"400", "413", "415", "422", "429"} <= set(tracks["responses"])
    assert "Retry-After" in tracks["responses"]["429"]["headers"]
    (key,) = [p for p in tracks["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["schema"]["maxLength"] == 255
    (patrol_id,) = spec["paths"]["/api/v1/patrols/{patrol_id}"]["get"]["parameters"]
    assert patrol_id["schema"]["maxLength"] == 512
    (after,) = [p for p in spec["paths"]["/api/v1/credits"]["get"]["parameters"] if p["name"] == "after"]
    assert after["schema"]["maximum"] == 2**53 - 1


def test_flask_errors_are_problems(client, auth, assert_problem):
    assert_problem(client.get("/api/v1/nothing-here"), 404, detail_has="openapi.json")
    response = client.delete("/api/v1/credits", headers=auth["admin"])
    assert_problem(response, 405, detail_has="method")
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_a_500_problem(app, client, assert_problem):
    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("internal detail that must not leak")

    body = assert_problem(client.get("/api/v1/boom"), 500, detail_has="service log")
    assert "internal detail" not in body["detail"]
