"""``POST /v1/billing/webhook``: Stripe events with real signatures, applied exactly once.

Signatures are computed here exactly as Stripe computes them (HMAC-SHA256 over
``"<timestamp>.<raw body>"`` with the endpoint's signing secret, header ``t=...,v1=...``) and
checked against stripe-python's own generator. Concurrency tests deliver over real HTTP to a
threaded server, so each delivery is its own request on its own database connection.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import stripe

from app.security import hash_api_key
from tests.conftest import (
    app_for_tests,
    as_user,
    balance_of,
    fresh_client,
    ledger_sum,
    make_key,
    make_user,
    serve_live,
)

WEBHOOK_SECRET = "whsec_test_creatorscrape_local_only"
STARTER = {"pack": "starter", "credits": 1000, "amount": 1000}


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def billing_app(database_url):
    """The app with a test webhook signing secret (no Stripe API key: the webhook needs none)."""
    with app_for_tests(
        database_url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_WEBHOOK_TOLERANCE=300,
        DB_POOL_MAX_SIZE=20,
    ) as flask_app:
        yield flask_app


@pytest.fixture
def hook(billing_app):
    return fresh_client(billing_app)


@pytest.fixture(scope="module")
def live_url(billing_app):
    """The billing app served over real HTTP on 127.0.0.1 by a threaded server."""
    with serve_live(billing_app) as url:
        yield url


# -- Stripe's signature and event shapes -----------------------------------------------------


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends: ``t=<unix time>,v1=<hex HMAC-SHA256 of
    "<t>.<body>" keyed with the signing secret>``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(event_type: str, obj: dict, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_test{secrets.token_hex(10)}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def session_obj(
    session_id: str,
    user_id: str,
    *,
    payment_status: str = "paid",
    payment_intent: str | None = None,
    pack: dict = STARTER,
    **extra,
) -> dict:
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": payment_status,
        "amount_total": pack["amount"],
        "currency": "usd",
        "customer": "cus_test123",
        "client_reference_id": user_id,
        "metadata": {"user_id": user_id, "pack_id": pack["pack"], "credits": str(pack["credits"])},
        "payment_intent": payment_intent or f"pi_{session_id[3:]}",
        **extra,
    }


def charge_obj(
    payment_intent: str, amount: int, amount_refunded: int, charge_id: str | None = None
) -> dict:
    return {
        "id": charge_id or f"ch_{payment_intent[3:]}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": amount_refunded,
        "refunded": amount_refunded >= amount,
        "currency": "usd",
        "payment_intent": payment_intent,
        "billing_details": {"email": "buyer@example.com", "name": "Buyer"},
    }


def dispute_obj(dispute_id: str, payment_intent: str, status: str) -> dict:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": 1000,
        "charge": f"ch_{payment_intent[3:]}",
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": status,
    }


def deliver(client, evt: dict, **sign_kwargs):
    body = json.dumps(evt).encode()
    return client.post(
        "/v1/billing/webhook",
        data=body,
        headers={"Stripe-Signature": sign(body, **sign_kwargs), "Content-Type": "application/json"},
    )


def new_checkout(db, user_id: str, pack: dict = STARTER) -> str:
    """Arrange: a Checkout Session created by /v1/billing/checkout for ``user_id`` (open)."""
    session_id = f"cs_test_{secrets.token_hex(12)}"
    db.execute(
        "insert into public.stripe_payments"
        " (checkout_session_id, user_id, pack_id, credits, amount_total, currency, customer_id)"
        " values (%s, %s, %s, %s, %s, 'usd', 'cus_test123')",
        (session_id, user_id, pack["pack"], pack["credits"], pack["amount"]),
    )
    return session_id


def ledger(db, user_id: str) -> list[tuple[str, int, str]]:
    rows = db.execute(
        "select reason, delta, ref from public.credit_ledger where user_id = %s order by id",
        (user_id,),
    ).fetchall()
    return [(r["reason"], r["delta"], r["ref"]) for r in rows]


def payment(db, session_id: str) -> dict:
    return db.execute(
        "select * from public.stripe_payments where checkout_session_id = %s", (session_id,)
    ).fetchone()


def event_count(db) -> int:
    return db.execute("select count(*) as n from public.stripe_events").fetchone()["n"]


def assert_consistent(db, user_id: str, expected_balance: int) -> None:
    assert balance_of(db, user_id) == expected_balance
    assert ledger_sum(db, user_id) == expected_balance


@pytest.fixture
def buyer(db):
    """A user with 5 credits and an open Checkout Session for the starter pack (1000 credits)."""
    user_id = make_user(db, credits=5)
    return user_id, new_checkout(db, user_id)


def paid(hook, user_id: str, session_id: str):
    response = deliver(hook, event("checkout.session.completed", session_obj(session_id, user_id)))
    assert response.status_code == 200, response.get_json()
    return response


# -- signatures -------------------------------------------------------------------------------


def test_our_signature_is_the_one_stripe_python_generates():
    body = b'{"id": "evt_1"}'
    assert sign(body, timestamp=1700000000) == stripe.WebhookSignature.generate_signature_header(
        body.decode(), WEBHOOK_SECRET, timestamp=1700000000
    )


def _tampered(body: bytes) -> tuple[bytes, str]:
    header = sign(body)
    return body.replace(b'"paid"', b'"PAID"').replace(b"1000", b"9000"), header


BAD_SIGNATURES = {
    "tampered_body": lambda body: _tampered(body),
    "wrong_secret": lambda body: (body, sign(body, secret="whsec_someone_else")),
    "stale_timestamp": lambda body: (body, sign(body, timestamp=int(time.time()) - 301)),
    "missing_header": lambda body: (body, ""),
    "garbage_header": lambda body: (body, "not-a-signature"),
    "other_scheme_only": lambda body: (body, sign(body).replace("v1=", "v0=")),
}


@pytest.mark.parametrize("case", BAD_SIGNATURES)
def test_bad_signatures_are_400_and_change_nothing(hook, db, buyer, case):
    user_id, session_id = buyer
    body = json.dumps(
        event("checkout.session.completed", session_obj(session_id, user_id))
    ).encode()
    sent_body, header = BAD_SIGNATURES[case](body)
    headers = {"Content-Type": "application/json"}
    if header:
        headers["Stripe-Signature"] = header
    response = hook.post("/v1/billing/webhook", data=sent_body, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_signature"
    assert event_count(db) == 0
    assert ledger(db, user_id)[1:] == []
    assert_consistent(db, user_id, 5)
    assert payment(db, session_id)["status"] == "open"


def test_webhook_without_a_signing_secret_is_503(client, db, buyer):
    user_id, session_id = buyer
    response = deliver(
        client, event("checkout.session.completed", session_obj(session_id, user_id))
    )
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "billing_unavailable"
    assert event_count(db) == 0
    assert_consistent(db, user_id, 5)


def test_signed_body_that_is_not_an_event_is_acknowledged_as_malformed(hook, db):
    body = b'["not", "an", "event"]'
    response = hook.post("/v1/billing/webhook", data=body, headers={"Stripe-Signature": sign(body)})
    assert response.status_code == 200  # recorded; a 4xx would make Stripe redeliver for days
    assert response.get_json() == {"received": True, "duplicate": False, "outcome": "malformed"}
    assert event_count(db) == 0


# -- fulfilment -------------------------------------------------------------------------------


def test_paid_session_grants_the_pack_once_with_the_session_as_ref(hook, db, buyer):
    user_id, session_id = buyer
    response = paid(hook, user_id, session_id)
    assert response.get_json() == {"received": True, "duplicate": False, "outcome": "granted"}
    assert ledger(db, user_id)[1:] == [("purchase", 1000, session_id)]
    assert_consistent(db, user_id, 1005)
    row = payment(db, session_id)
    assert (row["status"], row["payment_intent_id"]) == ("paid", f"pi_{session_id[3:]}")
    assert row["granted_at"] is not None


def test_same_event_delivered_ten_times_grants_once(hook, db, buyer):
    user_id, session_id = buyer
    evt = event("checkout.session.completed", session_obj(session_id, user_id))
    results = [deliver(hook, evt).get_json() for _ in range(10)]
    assert [r["duplicate"] for r in results] == [False] + [True] * 9
    assert ledger(db, user_id)[1:] == [("purchase", 1000, session_id)]
    assert_consistent(db, user_id, 1005)
    assert event_count(db) == 1


def test_ten_different_events_for_one_session_grant_once(hook, db, buyer):
    user_id, session_id = buyer
    events = [
        event(
            "checkout.session.completed" if i % 2 else "checkout.session.async_payment_succeeded",
            session_obj(session_id, user_id),
        )
        for i in range(10)
    ]
    outcomes = [deliver(hook, e).get_json()["outcome"] for e in events]
    assert outcomes == ["granted"] + ["already_granted"] * 9
    assert ledger(db, user_id)[1:] == [("purchase", 1000, session_id)]
    assert_consistent(db, user_id, 1005)
    assert event_count(db) == 10


def _deliver_concurrently(live_url: str, events: list[dict]) -> list[requests.Response]:
    barrier = threading.Barrier(len(events))

    def post(evt: dict) -> requests.Response:
        body = json.dumps(evt).encode()
        headers = {"Stripe-Signature": sign(body), "Content-Type": "application/json"}
        with requests.Session() as session:
            barrier.wait()
            return session.post(
                f"{live_url}/v1/billing/webhook", data=body, headers=headers, timeout=30
            )

    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        return list(pool.map(post, events))


@pytest.mark.parametrize("same_event", [True, False], ids=["same_event", "different_events"])
def test_eight_concurrent_deliveries_grant_once(live_url, db, buyer, same_event):
    user_id, session_id = buyer
    if same_event:
        one = event("checkout.session.completed", session_obj(session_id, user_id))
        events = [one] * 8
    else:
        events = [
            event(kind, session_obj(session_id, user_id))
            for kind in ["checkout.session.completed", "checkout.session.async_payment_succeeded"]
            * 4
        ]
    responses = _deliver_concurrently(live_url, events)
    assert [r.status_code for r in responses] == [200] * 8
    bodies = [r.json() for r in responses]
    assert sum(b["outcome"] == "granted" for b in bodies) == 1
    if same_event:
        assert sum(b["duplicate"] for b in bodies) == 7
    assert ledger(db, user_id)[1:] == [("purchase", 1000, session_id)]
    assert_consistent(db, user_id, 1005)
    assert event_count(db) == (1 if same_event else 8)


def test_async_payment_out_of_order_grants_once_and_stays_paid(hook, db, buyer):
    user_id, session_id = buyer
    succeeded = event(
        "checkout.session.async_payment_succeeded",
        session_obj(session_id, user_id, payment_status="paid"),
    )
    completed_unpaid = event(
        "checkout.session.completed", session_obj(session_id, user_id, payment_status="unpaid")
    )
    assert deliver(hook, succeeded).get_json()["outcome"] == "granted"
    assert deliver(hook, completed_unpaid).get_json()["outcome"] == "already_granted"
    assert payment(db, session_id)["status"] == "paid"
    assert ledger(db, user_id)[1:] == [("purchase", 1000, session_id)]
    assert_consistent(db, user_id, 1005)


def test_async_payment_pending_then_succeeded(hook, db, buyer):
    user_id, session_id = buyer
    unpaid = event(
        "checkout.session.completed", session_obj(session_id, user_id, payment_status="unpaid")
    )
    assert deliver(hook, unpaid).get_json()["outcome"] == "pending"
    assert payment(db, session_id)["status"] == "pending"
    assert_consistent(db, user_id, 5)
    succeeded = event("checkout.session.async_payment_succeeded", session_obj(session_id, user_id))
    assert deliver(hook, succeeded).get_json()["outcome"] == "granted"
    assert_consistent(db, user_id, 1005)


def test_async_payment_failed_grants_nothing(hook, db, buyer):
    user_id, session_id = buyer
    unpaid = event(
        "checkout.session.completed", session_obj(session_id, user_id, payment_status="unpaid")
    )
    failed = event(
        "checkout.session.async_payment_failed",
        session_obj(session_id, user_id, payment_status="unpaid"),
    )
    assert deliver(hook, unpaid).get_json()["outcome"] == "pending"
    assert deliver(hook, failed).get_json()["outcome"] == "failed"
    assert payment(db, session_id)["status"] == "failed"
    assert ledger(db, user_id)[1:] == []
    assert_consistent(db, user_id, 5)


def test_expired_session_grants_nothing(hook, db, buyer):
    user_id, session_id = buyer
    expired = event(
        "checkout.session.expired",
        session_obj(session_id, user_id, payment_status="unpaid", status="expired"),
    )
    assert deliver(hook, expired).get_json()["outcome"] == "expired"
    assert payment(db, session_id)["status"] == "expired"
    assert_consistent(db, user_id, 5)


def test_session_known_only_from_its_metadata_grants_nothing(hook, db):
    """We grant what we sold: a paid session /v1/billing/checkout never recorded is not ours to
    fulfil from its metadata (tests/test_billing_fulfilment.py has the details)."""
    user_id = make_user(db)
    session_id = f"cs_test_{secrets.token_hex(12)}"
    growth = {"pack": "growth", "credits": 6000, "amount": 5000}
    evt = event("checkout.session.completed", session_obj(session_id, user_id, pack=growth))
    assert deliver(hook, evt).get_json()["outcome"] == "unknown_session"
    assert ledger(db, user_id) == []
    assert payment(db, session_id) is None
    assert_consistent(db, user_id, 0)


@pytest.mark.parametrize(
    "obj",
    [
        {
            "id": "cs_test_foreign",
            "object": "checkout.session",
            "mode": "payment",
            "payment_status": "paid",
            "metadata": {},
        },
        {
            "id": "cs_test_sub",
            "object": "checkout.session",
            "mode": "subscription",
            "payment_status": "paid",
            "metadata": {},
        },
    ],
    ids=["no_metadata", "subscription_mode"],
)
def test_sessions_that_are_not_ours_are_acknowledged_and_grant_nothing(hook, db, obj):
    response = deliver(hook, event("checkout.session.completed", obj))
    expected = "ignored" if obj["mode"] == "subscription" else "unknown_session"
    assert response.get_json()["outcome"] == expected
    assert db.execute("select count(*) as n from public.credit_ledger").fetchone()["n"] == 0


@pytest.mark.parametrize(
    "event_type", ["customer.created", "invoice.paid", "payment_intent.succeeded"]
)
def test_unknown_events_get_200_and_are_recorded_once(hook, db, event_type):
    evt = event(event_type, {"id": "obj_1", "object": "thing"})
    first, second = deliver(hook, evt), deliver(hook, evt)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.get_json()["outcome"] == "ignored"
    assert second.get_json()["duplicate"] is True
    row = db.execute("select type, outcome, processed_at from public.stripe_events").fetchone()
    assert (row["type"], row["outcome"]) == (event_type, "ignored")
    assert row["processed_at"] is not None


# -- refunds ----------------------------------------------------------------------------------


def refund(hook, session_id: str, amount_refunded: int, event_id: str | None = None):
    pi = f"pi_{session_id[3:]}"
    evt = event("charge.refunded", charge_obj(pi, 1000, amount_refunded), event_id)
    response = deliver(hook, evt)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_partial_then_full_refund_removes_the_refunded_share_once(hook, db, buyer):
    user_id, session_id = buyer
    paid(hook, user_id, session_id)
    charge_id = f"ch_{session_id[3:]}"

    first = refund(hook, session_id, 250, event_id="evt_test_refund_250")
    assert first["outcome"] == "revoked"
    assert ledger(db, user_id)[2:] == [("purchase_refund", -250, f"{charge_id}:250")]
    assert_consistent(db, user_id, 755)

    # the same event again, and another event reporting the same cumulative refund
    assert refund(hook, session_id, 250, event_id="evt_test_refund_250")["duplicate"] is True
    assert refund(hook, session_id, 250)["outcome"] == "already_revoked"
    assert_consistent(db, user_id, 755)

    full = refund(hook, session_id, 1000)
    assert full["outcome"] == "revoked"
    assert ledger(db, user_id)[2:] == [
        ("purchase_refund", -250, f"{charge_id}:250"),
        ("purchase_refund", -750, f"{charge_id}:1000"),
    ]
    assert_consistent(db, user_id, 5)
    for _ in range(3):
        refund(hook, session_id, 1000)
    assert_consistent(db, user_id, 5)
    row = payment(db, session_id)
    assert (row["amount_refunded"], row["credits_reversed"], row["charge_id"]) == (
        1000,
        1000,
        charge_id,
    )


def test_refunds_delivered_out_of_order_take_the_cumulative_share_once(hook, db, buyer):
    user_id, session_id = buyer
    paid(hook, user_id, session_id)
    assert refund(hook, session_id, 600)["outcome"] == "revoked"
    assert refund(hook, session_id, 300)["outcome"] == "already_revoked"  # older event, late
    assert_consistent(db, user_id, 405)
    assert [d for _, d, _ in ledger(db, user_id)[2:]] == [-600]


def test_refund_larger_than_the_balance_stops_at_zero_records_shortfall_and_flags(hook, db, buyer):
    user_id, session_id = buyer
    paid(hook, user_id, session_id)
    key = make_key(db, user_id)
    db.execute(
        "select * from public.spend_credits(%s, 905, 'req_test_usage')", (hash_api_key(key),)
    )
    assert_consistent(db, user_id, 100)

    result = refund(hook, session_id, 1000, event_id="evt_test_full_refund")
    assert result["outcome"] == "revoked_with_shortfall"
    assert ledger(db, user_id)[-1] == ("purchase_refund", -100, f"ch_{session_id[3:]}:1000")
    assert_consistent(db, user_id, 0)
    shortfall = db.execute(
        "select reason, requested, revoked, shortfall from public.credit_shortfalls"
        " where user_id = %s",
        (user_id,),
    ).fetchall()
    assert shortfall == [
        {"reason": "purchase_refund", "requested": 1000, "revoked": 100, "shortfall": 900}
    ]
    profile = db.execute(
        "select flagged_at, flagged_reason, suspended_at from public.profiles where id = %s",
        (user_id,),
    ).fetchone()
    assert profile["flagged_at"] is not None
    assert profile["flagged_reason"] == "refund_shortfall"
    assert profile["suspended_at"] is None

    assert refund(hook, session_id, 1000, event_id="evt_test_full_refund")["duplicate"] is True
    assert refund(hook, session_id, 1000)["outcome"] == "already_revoked"
    assert_consistent(db, user_id, 0)
    assert db.execute("select count(*) as n from public.credit_shortfalls").fetchone()["n"] == 1


def test_refund_before_fulfilment_is_applied_when_the_payment_is(hook, db, buyer):
    user_id, session_id = buyer
    early = refund(hook, session_id, 1000)
    assert early["outcome"] == "unmatched"
    assert_consistent(db, user_id, 5)
    kept = db.execute(
        "select pending_object from public.stripe_events where outcome = 'unmatched'"
    ).fetchone()["pending_object"]
    assert "billing_details" not in kept  # only what is needed is kept

    assert paid(hook, user_id, session_id).get_json()["outcome"] == "granted"
    assert ledger(db, user_id)[1:] == [
        ("purchase", 1000, session_id),
        ("purchase_refund", -1000, f"ch_{session_id[3:]}:1000"),
    ]
    assert_consistent(db, user_id, 5)
    outcome = db.execute(
        "select outcome from public.stripe_events where type = 'charge.refunded'"
    ).fetchone()["outcome"]
    assert outcome == "replayed:revoked"


def test_refund_of_a_charge_that_is_not_ours_changes_nothing(hook, db, buyer):
    user_id, _ = buyer
    evt = event(
        "charge.refunded",
        {
            "id": "ch_foreign",
            "object": "charge",
            "amount": 500,
            "amount_refunded": 500,
            "payment_intent": None,
        },
    )
    assert deliver(hook, evt).get_json()["outcome"] == "ignored"
    assert_consistent(db, user_id, 5)


# -- disputes ---------------------------------------------------------------------------------


def dispute(
    hook,
    session_id: str,
    event_type: str,
    status: str,
    dispute_id: str = "dp_test_1",
    event_id: str | None = None,
):
    evt = event(event_type, dispute_obj(dispute_id, f"pi_{session_id[3:]}", status), event_id)
    response = deliver(hook, evt)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def balance_call(hook, key: str):
    return hook.get("/v1/credits/balance", headers={"x-api-key": key})


def suspension(db, user_id: str) -> tuple:
    row = db.execute(
        "select suspended_at is not null as suspended, suspended_reason from public.profiles"
        " where id = %s",
        (user_id,),
    ).fetchone()
    return row["suspended"], row["suspended_reason"]


def test_dispute_suspends_keys_until_won(hook, db, buyer):
    user_id, session_id = buyer
    paid(hook, user_id, session_id)
    key = make_key(db, user_id)
    assert balance_call(hook, key).status_code == 200

    created = dispute(
        hook,
        session_id,
        "charge.dispute.created",
        "needs_response",
        event_id="evt_test_dispute_created",
    )
    assert created["outcome"] == "suspended"
    assert suspension(db, user_id) == (True, "payment_dispute")
    refused = balance_call(hook, key)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "account_suspended"
    assert (
        dispute(
            hook,
            session_id,
            "charge.dispute.created",
            "needs_response",
            event_id="evt_test_dispute_created",
        )["duplicate"]
        is True
    )

    won = dispute(hook, session_id, "charge.dispute.closed", "won")
    assert won["outcome"] == "lifted"
    assert suspension(db, user_id) == (False, None)
    assert balance_call(hook, key).status_code == 200
    assert_consistent(db, user_id, 1005)  # disputes move no credits


def test_lost_dispute_keeps_the_account_suspended(hook, db, buyer):
    user_id, session_id = buyer
    paid(hook, user_id, session_id)
    dispute(hook, session_id, "charge.dispute.created", "needs_response")
    assert dispute(hook, session_id, "charge.dispute.closed", "lost")["outcome"] == "dispute_closed"
    assert suspension(db, user_id) == (True, "payment_dispute")
    status = db.execute("select status, closed_at from public.stripe_disputes").fetchone()
    assert status["status"] == "lost" and status["closed_at"] is not None


def test_dispute_closed_before_created_does_not_suspend(hook, db, buyer):
    user_id, session_id = buyer
    paid(hook, user_id, session_id)
    assert dispute(hook, session_id, "charge.dispute.closed", "won")["outcome"] == "dispute_closed"
    late = dispute(hook, session_id, "charge.dispute.created", "needs_response")
    assert late["outcome"] == "dispute_already_closed"
    assert suspension(db, user_id) == (False, None)


def test_won_dispute_lifts_only_when_every_dispute_is_settled(hook, db, buyer):
    user_id, session_id = buyer
    paid(hook, user_id, session_id)
    dispute(hook, session_id, "charge.dispute.created", "needs_response", dispute_id="dp_test_a")
    dispute(hook, session_id, "charge.dispute.created", "needs_response", dispute_id="dp_test_b")
    assert (
        dispute(hook, session_id, "charge.dispute.closed", "won", dispute_id="dp_test_a")["outcome"]
        == "dispute_closed"
    )
    assert suspension(db, user_id) == (True, "payment_dispute")
    assert (
        dispute(hook, session_id, "charge.dispute.closed", "won", dispute_id="dp_test_b")["outcome"]
        == "lifted"
    )
    assert suspension(db, user_id) == (False, None)


def test_won_dispute_does_not_lift_a_suspension_for_another_reason(hook, db, buyer):
    user_id, session_id = buyer
    paid(hook, user_id, session_id)
    db.execute(
        "update public.profiles set suspended_at = now(), suspended_reason = 'abuse' where id = %s",
        (user_id,),
    )
    assert (
        dispute(hook, session_id, "charge.dispute.created", "needs_response")["outcome"]
        == "already_suspended"
    )
    assert dispute(hook, session_id, "charge.dispute.closed", "won")["outcome"] == "dispute_closed"
    assert suspension(db, user_id) == (True, "abuse")


def test_dispute_before_fulfilment_suspends_once_the_payment_is_known(hook, db, buyer):
    user_id, session_id = buyer
    assert (
        dispute(hook, session_id, "charge.dispute.created", "needs_response")["outcome"]
        == "unmatched"
    )
    assert suspension(db, user_id) == (False, None)
    paid(hook, user_id, session_id)
    assert suspension(db, user_id) == (True, "payment_dispute")


# -- the database side ------------------------------------------------------------------------


def test_revoke_credits_is_idempotent_and_never_negative(db):
    user_id = make_user(db, credits=30)
    first = db.execute(
        "select * from public.revoke_credits(%s, 50, 'purchase_refund', 'ch_x:1')", (user_id,)
    ).fetchone()
    assert (first["applied"], first["revoked"], first["shortfall"], first["balance"]) == (
        True,
        30,
        20,
        0,
    )
    again = db.execute(
        "select * from public.revoke_credits(%s, 50, 'purchase_refund', 'ch_x:1')", (user_id,)
    ).fetchone()
    assert (again["applied"], again["revoked"], again["shortfall"], again["balance"]) == (
        False,
        30,
        20,
        0,
    )
    zero = db.execute(
        "select * from public.revoke_credits(%s, 5, 'purchase_refund', 'ch_x:2')", (user_id,)
    ).fetchone()
    assert (zero["applied"], zero["revoked"], zero["shortfall"]) == (True, 0, 5)
    assert_consistent(db, user_id, 0)


@pytest.mark.parametrize("reason", ["usage", "refund", "purchase"])
def test_revoke_credits_refuses_reserved_reasons(db, reason):
    user_id = make_user(db, credits=10)
    with pytest.raises(Exception, match="cannot be used"):
        db.execute("select public.revoke_credits(%s, 1, %s, 'x')", (user_id, reason))


@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_api_roles_cannot_revoke_credits_or_read_events(db, role):
    import psycopg

    user_id = make_user(db, credits=10)
    with (
        as_user(db, user_id if role == "authenticated" else None, role=role),
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        db.execute("select public.revoke_credits(%s, 1, 'purchase_refund', 'x')", (user_id,))
    with (
        as_user(db, user_id if role == "authenticated" else None, role=role),
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        db.execute("select * from public.stripe_events")
    assert_consistent(db, user_id, 10)


def test_users_read_only_their_own_payments_and_everyone_reads_active_packs(db):
    import psycopg

    a, b = make_user(db), make_user(db)
    new_checkout(db, a)
    new_checkout(db, b)
    with as_user(db, a):
        owners = {
            str(r["user_id"]) for r in db.execute("select user_id from public.stripe_payments")
        }
        assert owners == {a}
    with as_user(db, a), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("update public.stripe_payments set credits = 999999")
    with as_user(db, None, role="anon"):
        packs = [
            r["id"] for r in db.execute("select id from public.credit_packs order by sort_order")
        ]
        assert packs == ["starter", "growth", "scale"]
    with as_user(db, None, role="anon"), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("update public.credit_packs set credits = 1")
