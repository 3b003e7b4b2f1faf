"""Stripe fulfilment grants what we sold (issue 8, part 3): the user, pack and credits that
``/v1/billing/checkout`` recorded, for the price it recorded. Events carry real v1 signatures
(``tests.test_billing_webhook.sign``: HMAC-SHA256 over ``"<t>.<body>"``, as Stripe signs)."""

from __future__ import annotations

import secrets

import psycopg
import pytest

from tests.conftest import app_for_tests, as_user, fresh_client, make_user
from tests.test_billing_webhook import (
    WEBHOOK_SECRET,
    assert_consistent,
    deliver,
    event,
    ledger,
    new_checkout,
    payment,
    session_obj,
)

STARTER = {"pack": "starter", "credits": 1000, "amount": 1000}
SCALE = {"pack": "scale", "credits": 30000, "amount": 20000}


def alerts(db) -> list[dict]:
    return db.execute(
        "select checkout_session_id, reason, event_id, user_id, expected_amount,"
        " expected_currency, paid_amount, paid_currency, claimed_metadata"
        " from public.stripe_fulfilment_alerts order by id"
    ).fetchall()


@pytest.fixture(scope="module")
def billing_app(database_url):
    """The app with a test webhook signing secret (the webhook needs no Stripe API key)."""
    with app_for_tests(database_url, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET) as flask_app:
        yield flask_app


@pytest.fixture
def hook(billing_app):
    return fresh_client(billing_app)


def test_the_reported_attack_a_session_we_never_created_grants_nothing(hook, db):
    """A signed completed event for the starter pack's price claiming 30,000 credits, with no
    stripe_payments row."""
    user_id = make_user(db, credits=5)
    session_id = f"cs_test_{secrets.token_hex(12)}"
    obj = session_obj(session_id, user_id, pack=STARTER)
    obj["metadata"]["credits"] = "30000"
    evt = event("checkout.session.completed", obj)
    response = deliver(hook, evt)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "unknown_session"
    assert ledger(db, user_id) == [("admin_grant", 5, ledger(db, user_id)[0][2])]
    assert_consistent(db, user_id, 5)
    (alert,) = alerts(db)
    assert (alert["checkout_session_id"], alert["reason"], alert["event_id"]) == (
        session_id,
        "unknown_session",
        evt["id"],
    )
    assert alert["user_id"] is None  # the event's claim about the user is not trusted
    assert alert["claimed_metadata"]["metadata"]["credits"] == "30000"
    assert (alert["paid_amount"], alert["paid_currency"]) == (1000, "usd")

    again = deliver(hook, evt)
    assert again.get_json()["duplicate"] is True
    assert len(alerts(db)) == 1


def test_a_known_session_grants_the_recorded_pack_whatever_its_metadata_says(hook, db):
    user_id = make_user(db)
    session_id = new_checkout(db, user_id, STARTER)
    obj = session_obj(session_id, user_id, pack=STARTER)
    obj["metadata"] = {"user_id": make_user(db), "pack_id": "scale", "credits": "30000"}
    response = deliver(hook, event("checkout.session.completed", obj))
    assert response.get_json()["outcome"] == "granted"
    assert ledger(db, user_id) == [("purchase", 1000, session_id)]
    assert_consistent(db, user_id, 1000)
    assert alerts(db) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount_total": 1}, "amount_mismatch"),
        ({"amount_total": 0, "payment_status": "no_payment_required"}, "amount_mismatch"),
        ({"amount_total": None}, "amount_mismatch"),
        ({"currency": "jpy"}, "currency_mismatch"),
    ],
    ids=["cheaper", "free_with_a_coupon", "no_amount", "other_currency"],
)
def test_a_paid_amount_or_currency_other_than_the_price_grants_nothing(hook, db, change, reason):
    user_id = make_user(db)
    session_id = new_checkout(db, user_id, SCALE)
    obj = {**session_obj(session_id, user_id, pack=SCALE), **change}
    for event_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        response = deliver(hook, event(event_type, obj))
        assert response.get_json()["outcome"] == reason
    assert ledger(db, user_id) == []
    assert_consistent(db, user_id, 0)
    row = payment(db, session_id)
    assert (row["status"], row["granted_at"]) == ("open", None)
    (alert,) = alerts(db)  # once per session and reason
    assert (alert["reason"], str(alert["user_id"])) == (reason, user_id)
    assert (alert["expected_amount"], alert["expected_currency"]) == (20000, "usd")


def test_the_alerts_are_for_admins_only(db):
    user_id = make_user(db)
    for role, user in (("authenticated", user_id), ("anon", None)):
        with as_user(db, user, role=role), pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("select * from public.stripe_fulfilment_alerts")
