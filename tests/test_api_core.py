"""The HTTP surface of the platform core: authentication, errors, headers, pagination."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import g

from app import db as app_db
from app.security import api_key_required
from tests.conftest import (
    app_for_tests,
    assert_error,
    balance_of,
    fresh_client,
    ledger_sum,
    make_key,
    make_user,
)


@pytest.fixture(scope="module")
def paid_app(database_url):
    """An app with two extra test routes: a 1-credit call and one that crashes after charging
    nothing. Its free plan allows 3 calls a minute."""
    with app_for_tests(
        database_url,
        RATELIMIT_PLAN_LIMITS={"free": "3 per minute", "pro": "100 per minute"},
        MAX_CONTENT_LENGTH=2048,
    ) as flask_app:

        @flask_app.get("/v1/test/paid")
        @api_key_required(cost=1)
        def paid():
            return {"balance": g.principal.balance}

        @flask_app.post("/v1/test/echo")
        def echo():
            from flask import request

            return {"size": len(request.get_data())}

        @flask_app.get("/v1/test/crash")
        def crash():
            raise RuntimeError("secret internal detail")

        yield flask_app


@pytest.fixture
def paid_client(paid_app):
    return fresh_client(paid_app)


def test_balance_returns_balance_and_plan(client, db):
    user_id = make_user(db, credits=12)
    key = make_key(db, user_id)
    response = client.get("/v1/credits/balance", headers={"x-api-key": key})
    assert response.status_code == 200
    body = response.get_json()
    assert body["data"] == {"balance": 12, "plan": "free"}
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    assert response.headers["X-RateLimit-Limit"] == "60"
    assert response.headers["X-RateLimit-Remaining"] == "59"
    assert int(response.headers["X-RateLimit-Reset"]) > 0
    assert "Retry-After" not in response.headers


def test_request_ids_are_fresh_even_when_client_sends_one(client):
    first = client.get("/healthz", headers={"X-Request-ID": "client-chosen"})
    second = client.get("/healthz", headers={"X-Request-ID": "client-chosen"})
    ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(ids) == 2
    assert all(i.startswith("req_") for i in ids)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "not-a-key",
        "cs_live_short",
        # right length and alphabet, wrong checksum
        "cs_live_" + "A" * 36,
    ],
)
def test_malformed_keys_are_rejected_without_a_database_call(client, monkeypatch, header):
    calls = []
    real = app_db.connection

    def counting_connection():
        calls.append(1)
        return real()

    monkeypatch.setattr(app_db, "connection", counting_connection)
    headers = {} if header is None else {"x-api-key": header}
    response = client.get("/v1/credits/balance", headers=headers)
    assert_error(response, 401, "invalid_api_key")
    assert calls == []


def test_unknown_revoked_and_expired_keys_share_one_public_error(client, db):
    user_id = make_user(db, credits=5)
    now = datetime.now(UTC)
    keys = {
        "unknown": __import__("app.security", fromlist=["x"]).generate_api_key().plaintext,
        "revoked": make_key(db, user_id, revoked_at=now),
        "expired": make_key(db, user_id, expires_at=now - timedelta(seconds=1)),
    }
    messages = set()
    for key in keys.values():
        error = assert_error(
            client.get("/v1/credits/balance", headers={"x-api-key": key}), 401, "invalid_api_key"
        )
        messages.add(error["message"])
    assert len(messages) == 1
    assert balance_of(db, user_id) == 5


def test_revocation_takes_effect_on_the_next_request(client, db):
    user_id = make_user(db, credits=5)
    key = make_key(db, user_id)
    assert client.get("/v1/credits/balance", headers={"x-api-key": key}).status_code == 200
    db.execute("update public.api_keys set revoked_at = now() where user_id = %s", (user_id,))
    assert_error(
        client.get("/v1/credits/balance", headers={"x-api-key": key}), 401, "invalid_api_key"
    )


def test_paid_call_charges_one_credit_with_the_request_id_as_ref(paid_client, db):
    user_id = make_user(db, credits=2)
    key = make_key(db, user_id)
    response = paid_client.get("/v1/test/paid", headers={"x-api-key": key})
    assert response.status_code == 200
    assert response.get_json() == {"balance": 1}
    ref = db.execute(
        "select ref from public.credit_ledger where reason = 'usage' and user_id = %s", (user_id,)
    ).fetchone()["ref"]
    assert ref == response.headers["X-Request-ID"]


def test_insufficient_credits_is_402_with_required_and_balance(paid_client, db):
    user_id = make_user(db, credits=0)
    key = make_key(db, user_id)
    error = assert_error(
        paid_client.get("/v1/test/paid", headers={"x-api-key": key}), 402, "insufficient_credits"
    )
    assert error["details"] == {"required": 1, "balance": 0, "shortfall": 1}
    assert ledger_sum(db, user_id) == 0


def test_suspended_account_is_403(paid_client, db):
    user_id = make_user(db, credits=3)
    key = make_key(db, user_id)
    db.execute("update public.profiles set suspended_at = now() where id = %s", (user_id,))
    assert_error(
        paid_client.get("/v1/test/paid", headers={"x-api-key": key}), 403, "account_suspended"
    )
    assert balance_of(db, user_id) == 3


def test_rate_limit_per_plan_429_with_headers_and_no_charge(paid_client, db):
    user_id = make_user(db, credits=10)
    key = make_key(db, user_id)
    for expected_remaining in ("2", "1", "0"):
        ok = paid_client.get("/v1/test/paid", headers={"x-api-key": key})
        assert ok.status_code == 200
        assert ok.headers["X-RateLimit-Limit"] == "3"
        assert ok.headers["X-RateLimit-Remaining"] == expected_remaining
    limited = paid_client.get("/v1/test/paid", headers={"x-api-key": key})
    assert_error(limited, 429, "rate_limited")
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert balance_of(db, user_id) == 7  # the refused call was not charged

    # Another key has its own counter, and a pro plan its own limit (once the plan is known).
    other = make_user(db, credits=10)
    db.execute("update public.profiles set plan = 'pro' where id = %s", (other,))
    other_key = make_key(db, other)
    first = paid_client.get("/v1/test/paid", headers={"x-api-key": other_key})
    assert first.status_code == 200
    second = paid_client.get("/v1/test/paid", headers={"x-api-key": other_key})
    assert second.headers["X-RateLimit-Limit"] == "100"


def test_rate_limit_keys_on_the_validated_key_not_the_raw_header(paid_client, db):
    """Garbage keys are refused before the limiter; they do not eat a real key's budget."""
    user_id = make_user(db, credits=10)
    key = make_key(db, user_id)
    for _ in range(5):
        paid_client.get("/v1/test/paid", headers={"x-api-key": "garbage"})
    response = paid_client.get("/v1/test/paid", headers={"x-api-key": key})
    assert response.headers["X-RateLimit-Remaining"] == "2"


def test_unknown_route_is_404_envelope(client):
    assert_error(client.get("/v1/nope"), 404, "not_found")


def test_wrong_method_is_405_envelope(client):
    assert_error(client.delete("/v1/credits/balance"), 405, "method_not_allowed")


def test_oversized_body_is_413(paid_client):
    response = paid_client.post(
        "/v1/test/echo", data=b"x" * 4096, content_type="application/octet-stream"
    )
    assert_error(response, 413, "payload_too_large")


def test_unexpected_error_is_500_without_stack_trace(paid_client):
    response = paid_client.get("/v1/test/crash")
    error = assert_error(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "secret internal detail" not in text
    assert "Traceback" not in text
    assert error["details"] == {}


def test_history_is_cursor_paginated_newest_first(client, db):
    user_id = make_user(db)
    for i in range(5):
        db.execute(
            "select public.grant_credits(%s, %s, 'admin_grant', %s)", (user_id, i + 1, f"g{i}")
        )
    key = make_key(db, user_id)
    seen, cursor, pages = [], None, 0
    while True:
        url = "/v1/credits/history?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers={"x-api-key": key}).get_json()
        pages += 1
        seen.extend(row["delta"] for row in body["data"])
        cursor = body["meta"]["next_cursor"]
        assert body["meta"]["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert pages == 3
    assert seen == [5, 4, 3, 2, 1]
    first = client.get("/v1/credits/history?limit=1", headers={"x-api-key": key}).get_json()
    row = first["data"][0]
    assert set(row) == {"id", "delta", "balance_after", "reason", "ref", "created_at"}
    assert datetime.fromisoformat(row["created_at"]).tzinfo is not None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=abc", "cursor=%21%21", "cursor=LTE"]
)
def test_history_rejects_bad_paging_parameters(client, db, query):
    key = make_key(db, make_user(db))
    error = assert_error(
        client.get(f"/v1/credits/history?{query}", headers={"x-api-key": key}),
        400,
        "validation_error",
    )
    assert error["details"]["fields"][0]["field"] in {"limit", "cursor"}


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_openapi_document_lists_endpoints_with_error_codes(client):
    doc = client.get("/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    balance = doc["paths"]["/v1/credits/balance"]["get"]
    assert balance["security"] == [{"ApiKeyAuth": []}]
    assert "invalid_api_key" in balance["responses"]["401"]["description"]
    history = doc["paths"]["/v1/credits/history"]["get"]
    assert {p["name"] for p in history["parameters"] if p["in"] == "query"} == {"limit", "cursor"}
    assert "ErrorResponse" in doc["components"]["schemas"]
    assert client.get("/docs/").status_code == 200


def test_logs_never_contain_full_api_keys(client, db, caplog):
    key = make_key(db, make_user(db))
    import logging

    with caplog.at_level(logging.INFO):
        client.get("/v1/credits/balance", headers={"x-api-key": key})
        logging.getLogger("test").info("leaked %s", key)
    from app.logs import JsonFormatter

    formatter = JsonFormatter()
    assert caplog.records
    assert all(key not in formatter.format(r) for r in caplog.records)
    assert uuid.UUID  # keep import used
