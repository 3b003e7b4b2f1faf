"""Bad input is a 4xx envelope, never a 500: one body-depth limit, one string rule and one cursor
decoder, each exercised on every operation of the OpenAPI document it applies to. Requests carry
a valid API key and a valid Bearer token of a funded user, so a value that slipped through would
reach the database (where NUL made Postgres fail with a 500)."""

from __future__ import annotations

import base64
import json

import pytest

from app.input_rules import MAX_JSON_DEPTH, MAX_REQUEST_LINE_BYTES, UnsafeInput, loads
from tests.conftest import assert_error, bearer_for, make_funded_key

RAW_BODY_OPERATIONS = {("post", "/v1/billing/webhook")}  # judged by the webhook itself


def operations(client) -> list[tuple[str, str, dict]]:
    doc = client.get("/v1/openapi.json").get_json()
    return [
        (method, path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if (method, path) not in RAW_BODY_OPERATIONS
    ]


def body_schema(client, operation: dict) -> dict | None:
    body = operation.get("requestBody")
    if body is None:
        return None
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    return client.get("/v1/openapi.json").get_json()["components"]["schemas"][ref]


@pytest.fixture
def auth(app, db) -> dict[str, str]:
    user_id, key = make_funded_key(db, 100)
    return {"x-api-key": key, **bearer_for(app, user_id)}


def send(client, method: str, path: str, headers: dict, **kwargs):
    return client.open(path, method=method.upper(), headers=headers, **kwargs)


def test_every_operation_refuses_nul_and_lone_surrogates_in_query_parameters(client, auth):
    checked = 0
    for method, path, operation in operations(client):
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        for name in names or ["q"]:
            for bad in ("a\x00b", "\x00"):
                response = send(client, method, path, auth, query_string={name: bad})
                error = assert_error(response, 400, "validation_error")
                assert error["details"]["fields"][0]["field"] == f"query.{name}", (method, path)
                checked += 1
    assert checked >= 40


def string_properties(schema: dict) -> list[str]:
    names = []
    for name, prop in schema.get("properties", {}).items():
        variants = prop.get("anyOf", [prop])
        if any(v.get("type") == "string" for v in variants):
            names.append(name)
    return names


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800", "x\udfffy"])
def test_every_json_body_refuses_nul_and_lone_surrogates_in_any_string(client, auth, bad):
    checked = 0
    for method, path, operation in operations(client):
        schema = body_schema(client, operation)
        if schema is None:
            continue
        fields = string_properties(schema)
        assert fields or path == "/v1/jobs/create", path
        bodies = [{field: bad} for field in fields]
        bodies.append({"urls": [bad], "name": "ok", bad: "as a key"})  # arrays and keys too
        for body in bodies:
            raw = json.dumps(body)  # lone surrogates become \\udXXX escapes, as a client sends
            response = send(client, method, path, auth, data=raw, content_type="application/json")
            error = assert_error(response, 400, "validation_error")
            assert error["details"]["fields"] == [
                {"field": "body", "message": error["details"]["fields"][0]["message"]}
            ]
            assert "NUL" in error["message"] + str(error["details"]) or "surrogate" in str(
                error["details"]
            )
            checked += 1
    assert checked >= 12


def test_every_json_post_refuses_deep_nesting_before_auth(client, auth):
    deep = "[" * 1000 + "]" * 1000  # 2 KB
    posts = [(m, p) for m, p, _ in operations(client) if m == "post"]
    assert len(posts) == 11
    for headers in (auth, {}):
        for method, path in posts:
            response = send(
                client, method, path, headers, data=deep, content_type="application/json"
            )
            error = assert_error(response, 400, "validation_error")
            assert f"at most {MAX_JSON_DEPTH}" in error["details"]["fields"][0]["message"], path


def test_depth_limit_is_exact_and_strict_parse_accepts_ordinary_json():
    assert loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(UnsafeInput):
        loads("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    with pytest.raises(UnsafeInput):
        loads('{"a": ' * 100_000 + "1" + "}" * 100_000)  # past Python's recursion limit
    assert loads('{"name": "caf\\u00e9 \\ud83d\\ude00"}') == {"name": "café \U0001f600"}


def test_bad_json_is_a_validation_error_not_a_500(client, auth):
    response = client.post(
        "/v1/keys/create", data="{not json", content_type="application/json", headers=auth
    )
    error = assert_error(response, 400, "validation_error")
    assert error["details"]["fields"] == [
        {"field": "body", "message": "The body is not valid JSON."}
    ]


def test_nul_in_a_header_is_refused(client, auth):
    headers = {**auth, "Idempotency-Key": "k\x00ey"}
    response = client.get("/v1/creators/profile?url=example.com", headers=headers)
    error = assert_error(response, 400, "validation_error")
    assert error["details"]["fields"][0]["field"] == "header.Idempotency-Key"


def cursor(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def test_every_bigint_cursor_refuses_values_past_64_bits(client, auth):
    checked = []
    for method, path, operation in operations(client):
        params = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        if "cursor" not in params or "uuid" in json.dumps(params["cursor"]["schema"]):
            continue
        query = {"id": "00000000-0000-0000-0000-000000000001"} if "id" in params else {}
        if "url" in params:
            query["url"] = "https://bsky.app/profile/jay.bsky.team"
        for value in (2**63, 10**30, -(2**63) - 1):
            response = send(
                client, method, path, auth, query_string={**query, "cursor": cursor(value)}
            )
            error = assert_error(response, 400, "validation_error")
            assert error["details"]["fields"] == [{"field": "cursor", "message": "Invalid cursor."}]
        largest = send(
            client, method, path, auth, query_string={**query, "cursor": cursor(2**63 - 1)}
        )
        if path == "/v1/creators/history":  # its cursor is an hour in epoch seconds
            error = assert_error(largest, 400, "validation_error")
            assert error["details"]["fields"] == [{"field": "cursor", "message": "Invalid cursor."}]
        else:
            assert largest.status_code in (200, 404), (path, largest.get_json())
        checked.append(path)
    assert sorted(checked) == [
        "/v1/creators/history",
        "/v1/credits/history",
        "/v1/jobs/list",
        "/v1/jobs/results",
    ]


def test_every_405_carries_an_allow_header(client):
    doc = client.get("/v1/openapi.json").get_json()
    checked = 0
    for path, item in doc["paths"].items():
        documented = {m.upper() for m in item}
        wrong = "DELETE" if "DELETE" not in documented else "PATCH"
        response = client.open(path, method=wrong)
        assert_error(response, 405, "method_not_allowed")
        allowed = {m.strip() for m in response.headers["Allow"].split(",")}
        assert documented <= allowed and wrong not in allowed, path
        checked += 1
    assert checked == len(doc["paths"])


def test_request_line_limit_is_a_json_414_and_every_documented_url_fits(client, auth):
    longest_url = "https://example.com/" + "\U0001f600" * 2028  # 2048 characters, 4 bytes each
    fits = client.get("/v1/creators/profile", query_string={"url": longest_url}, headers=auth)
    assert fits.status_code != 414
    assert len(fits.request.environ["QUERY_STRING"]) > 24_000
    too_long = client.get("/v1/credits/balance?pad=" + "a" * MAX_REQUEST_LINE_BYTES, headers=auth)
    assert_error(too_long, 414, "uri_too_long")
