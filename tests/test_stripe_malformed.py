"""Validly signed Stripe webhook bodies with wrong shapes are recorded once and answered 200
(``outcome: malformed``), so Stripe stops redelivering them; nothing else changes."""

from __future__ import annotations

import json

import pytest

from tests.conftest import app_for_tests, fresh_client, ledger_sum, make_user
from tests.test_billing_webhook import WEBHOOK_SECRET, event, new_checkout, session_obj, sign


@pytest.fixture(scope="module")
def hook_app(database_url):
    with app_for_tests(database_url, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET) as flask_app:
        yield flask_app


@pytest.fixture
def hook(hook_app):
    return fresh_client(hook_app)


@pytest.fixture(autouse=True)
def _clean_malformed(db):
    db.execute("truncate private.stripe_malformed_events")


def post(hook, body: bytes):
    return hook.post(
        "/v1/billing/webhook",
        data=body,
        headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"},
    )


def paid_session_event(user_id: str) -> dict:
    return event("checkout.session.completed", session_obj("cs_test_malformed1", user_id))


def deep_event(user_id: str) -> bytes:
    evt = paid_session_event(user_id)
    evt["data"]["object"]["payment_method_options"] = json.loads("[" * 60 + "]" * 60)
    return json.dumps(evt).encode()


def nul_in(field: str):
    def build(user_id: str) -> bytes:
        evt = paid_session_event(user_id)
        evt[field] = evt[field] + "\x00"
        return json.dumps(evt).encode()

    return build


def metadata_as_string(user_id: str) -> bytes:
    evt = paid_session_event(user_id)
    evt["data"]["object"]["metadata"] = json.dumps(evt["data"]["object"]["metadata"])
    return json.dumps(evt).encode()


def surrogate_in_metadata(user_id: str) -> bytes:
    evt = paid_session_event(user_id)
    evt["data"]["object"]["metadata"]["pack_id"] = "starter\ud800"
    return json.dumps(evt).encode()


def past_recursion_limit(user_id: str) -> bytes:
    return b'{"id": "evt_1", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}"


CASES = {
    "nested too deep": (deep_event, "nest at most 32"),
    "past the recursion limit": (past_recursion_limit, "nest at most 32"),
    "NUL in id": (nul_in("id"), "NUL"),
    "NUL in type": (nul_in("type"), "NUL"),
    "metadata as a string": (metadata_as_string, "data.object.metadata must be an object"),
    "lone surrogate": (surrogate_in_metadata, "surrogate"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_malformed_signed_events_are_recorded_once_and_acknowledged(hook, db, case):
    build, reason = CASES[case]
    user_id = make_user(db, credits=5)
    body = build(user_id)
    for delivery in (1, 2):  # Stripe's redelivery of the same bytes
        response = post(hook, body)
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == {
            "received": True,
            "duplicate": delivery == 2,
            "outcome": "malformed",
        }
    rows = db.execute(
        "select reason, deliveries, payload_bytes, payload_excerpt"
        "  from private.stripe_malformed_events"
    ).fetchall()
    assert len(rows) == 1
    assert reason in rows[0]["reason"]
    assert rows[0]["deliveries"] == 2 and rows[0]["payload_bytes"] == len(body)
    assert "\x00" not in rows[0]["payload_excerpt"]
    assert db.execute("select count(*) as n from public.stripe_events").fetchone()["n"] == 0
    assert ledger_sum(db, user_id) == 5  # nothing granted


def test_a_well_formed_event_still_grants(hook, db):
    user_id = make_user(db, credits=0)
    session_id = new_checkout(db, user_id)
    evt = event("checkout.session.completed", session_obj(session_id, user_id))
    response = post(hook, json.dumps(evt).encode())
    assert response.get_json()["outcome"] == "granted"
    assert ledger_sum(db, user_id) == 1000
    assert (
        db.execute("select count(*) as n from private.stripe_malformed_events").fetchone()["n"] == 0
    )
