"""What a newcomer reaches first: ``/`` and ``/api/v1``, which ``geoverify demo`` prints."""

from __future__ import annotations

from urllib.parse import urlsplit


def test_api_index_links_resolve(client, auth):
    for path in ("/api/v1", "/api/v1/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == "application/json"
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    index = client.get("/api/v1").json
    assert index["service"] == "geoverify" and index["openapi"] == "/api/v1/openapi.json" and index["map"] == "/map"
    assert "Bearer" in index["authentication"]
    assert set(index["resources"]) == {
        "grids",
        "tracks",
        "events",
        "sites",
        "patrols",
        "flags",
        "credits",
        "audit",
        "assessment",
    }
    assert client.get(index["openapi"]).json["openapi"].startswith("3.")
    assert client.get(index["map"]).mimetype == "text/html"
    spec_paths = set(client.get(index["openapi"]).json["paths"])
    for name, resource in index["resources"].items():
        assert resource["href"] in spec_paths and resource["description"], name
        # Each one answers an admin (GET-able ones 200; upload-only ones 405 naming POST), never 404.
        response = client.get(resource["href"], headers=auth["admin"])
        assert response.status_code in (200, 405), (name, response.status_code)


def test_root_sends_a_browser_to_the_map_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/map"
    assert client.get("/", follow_redirects=True).mimetype == "text/html"
