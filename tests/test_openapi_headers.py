"""The OpenAPI document declares the headers the server reads and sends, and the byte limits
it enforces, so generated SDKs expose them."""

from __future__ import annotations

from app.serving import GUNICORN_LIMITS, HEADER_FIELD_BYTES


def resolve(doc: dict, ref: dict) -> dict:
    return doc["components"]["headers"][ref["$ref"].rsplit("/", 1)[-1]]


def test_request_headers_are_declared(client):
    doc = client.get("/v1/openapi.json").get_json()
    idempotent = set()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
            assert headers["X-Request-ID"]["schema"]["maxLength"] == 128, path
            if "Idempotency-Key" in headers:
                assert headers["Idempotency-Key"]["schema"]["maxLength"] == 255
                idempotent.add(f"{method.upper()} {path}")
    assert idempotent == {
        "GET /v1/creators/profile",
        "GET /v1/creators/posts",
        "GET /v1/creators/history",
        "POST /v1/jobs/create",
        "POST /v1/billing/checkout",
    }


def test_response_headers_are_declared(client):
    doc = client.get("/v1/openapi.json").get_json()
    for name in (
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "Retry-After",
        "X-Request-ID",
        "Idempotent-Replayed",
    ):
        assert "description" in doc["components"]["headers"][name]
    paths = doc["paths"]
    for path, item in paths.items():
        for operation in item.values():
            for response in operation["responses"].values():
                assert "X-Request-ID" in response["headers"], path
    limited = [
        ("/v1/credits/balance", "get"),
        ("/v1/keys/list", "get"),
        ("/v1/auth/login", "post"),
        ("/v1/billing/checkout", "post"),
    ]
    for path, method in limited:
        responses = paths[path][method]["responses"]
        assert set(responses["200" if "201" not in responses else "201"]["headers"]) >= {
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        }, path
        assert "Retry-After" in responses["429"]["headers"], path
        assert "rate_limited" in responses["429"]["description"]
    assert "X-RateLimit-Limit" not in paths["/healthz"]["get"]["responses"]["200"]["headers"]
    replayed = paths["/v1/creators/profile"]["get"]["responses"]["200"]["headers"]
    assert "Idempotent-Replayed" in replayed
    assert resolve(doc, replayed["Idempotent-Replayed"])["schema"]["enum"] == ["true"]


def test_request_byte_limits_are_published_and_match_gunicorn(client):
    doc = client.get("/v1/openapi.json").get_json()
    limits = doc["x-request-limits"]
    assert limits["header_field_bytes"] == HEADER_FIELD_BYTES
    assert limits["header_field_bytes"] == GUNICORN_LIMITS["limit_request_field_size"]
    assert limits["header_fields"] == GUNICORN_LIMITS["limit_request_fields"]
    assert GUNICORN_LIMITS["limit_request_line"] == 0  # the app enforces request_line_bytes
    assert limits["body_bytes"] == client.application.config["MAX_CONTENT_LENGTH"]
    assert f"{limits['request_line_bytes']} bytes" in doc["info"]["description"]
