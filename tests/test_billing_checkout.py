"""Packs, Checkout and the Customer Portal, against a local FAKE of Stripe's HTTP API
(``tests/fakes/stripe_api.py``; stripe-python is pointed at it through ``STRIPE_API_BASE``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import (
    app_for_tests,
    balance_of,
    bearer_for,
    fresh_client,
    make_key,
    make_user,
    serve_live,
)
from tests.fakes.stripe_api import FAKE_SECRET_KEY, FakeStripeAPI

SUCCESS_URL = "https://app.example.com/billing/success?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://app.example.com/billing"
PORTAL_RETURN_URL = "https://app.example.com/account"


@pytest.fixture(scope="module")
def fake_stripe():
    with FakeStripeAPI() as fake:
        fake.add_price("price_local_starter", 1000)
        fake.add_price("price_local_growth", 5000)
        fake.add_price("price_local_scale", 20000)
        yield fake


@pytest.fixture(scope="module")
def billing_app(database_url, fake_stripe):
    with app_for_tests(
        database_url,
        STRIPE_SECRET_KEY=FAKE_SECRET_KEY,
        STRIPE_API_BASE=fake_stripe.base_url,
        STRIPE_API_TIMEOUT=10.0,
        CHECKOUT_SUCCESS_URL=SUCCESS_URL,
        CHECKOUT_CANCEL_URL=CANCEL_URL,
        PORTAL_RETURN_URL=PORTAL_RETURN_URL,
        DB_POOL_MAX_SIZE=20,
    ) as flask_app:
        yield flask_app


@pytest.fixture
def api(billing_app, fake_stripe):
    fake_stripe.reset()
    return fresh_client(billing_app)


@pytest.fixture(scope="module")
def live_url(billing_app):
    with serve_live(billing_app) as url:
        yield url


def checkout_as(api, billing_app, user_id: str, pack_id: str):
    """``POST /v1/billing/checkout`` for ``pack_id`` with a fresh Bearer token for ``user_id``."""
    return api.post(
        "/v1/billing/checkout", json={"pack_id": pack_id}, headers=bearer_for(billing_app, user_id)
    )


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


# -- packs ----------------------------------------------------------------------------------


def test_packs_are_public_and_ordered(api):
    response = api.get("/v1/billing/packs")
    assert response.status_code == 200
    assert response.get_json()["data"] == [
        {
            "id": "starter",
            "name": "Starter",
            "credits": 1000,
            "unit_amount": 1000,
            "currency": "usd",
        },
        {"id": "growth", "name": "Growth", "credits": 6000, "unit_amount": 5000, "currency": "usd"},
        {"id": "scale", "name": "Scale", "credits": 30000, "unit_amount": 20000, "currency": "usd"},
    ]


@pytest.fixture
def extra_pack(db):
    """A pack added for one test (seed rows are never touched), removed afterwards."""
    created: list[str] = []

    def add(pack_id: str, price_id: str, active: bool = True) -> str:
        db.execute(
            "insert into public.credit_packs"
            " (id, name, credits, unit_amount, currency, stripe_price_id, active, sort_order)"
            " values (%s, %s, 10, 100, 'usd', %s, %s, 99)",
            (pack_id, pack_id.title(), price_id, active),
        )
        created.append(pack_id)
        return pack_id

    yield add
    for pack_id in created:
        db.execute("delete from public.stripe_payments where pack_id = %s", (pack_id,))
        db.execute("delete from public.credit_packs where id = %s", (pack_id,))


def test_inactive_packs_are_neither_listed_nor_sold(api, billing_app, db, extra_pack):
    extra_pack("retired", "price_local_retired", active=False)
    assert "retired" not in [p["id"] for p in api.get("/v1/billing/packs").get_json()["data"]]
    user_id = make_user(db)
    response = checkout_as(api, billing_app, user_id, "retired")
    assert response.status_code == 404
    assert error_code(response) == "pack_not_found"


# -- checkout -------------------------------------------------------------------------------


def test_checkout_with_bearer_creates_customer_and_payment_mode_session(
    api, billing_app, db, fake_stripe
):
    user_id = make_user(db, email="buyer@example.com")
    response = checkout_as(api, billing_app, user_id, "growth")
    assert response.status_code == 201, response.get_json()
    data = response.get_json()["data"]
    session_id = data["checkout_session_id"]
    assert data["url"] == f"https://checkout.stripe.com/c/pay/{session_id}"
    assert data["pack"]["id"] == "growth"

    [customer_call] = fake_stripe.requests_to("POST", "/v1/customers")
    assert customer_call.params == {"email": "buyer@example.com", "metadata": {"user_id": user_id}}
    assert customer_call.idempotency_key == f"creatorscrape-customer-{user_id}"
    [customer] = fake_stripe.customers.values()

    [session_call] = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    params = session_call.params
    metadata = {"user_id": user_id, "pack_id": "growth", "credits": "6000"}
    assert params["mode"] == "payment"
    assert params["line_items"] == [{"price": "price_local_growth", "quantity": "1"}]
    assert params["customer"] == customer["id"]
    assert params["client_reference_id"] == user_id
    assert params["metadata"] == metadata
    assert params["payment_intent_data"] == {"metadata": metadata}
    assert (params["success_url"], params["cancel_url"]) == (SUCCESS_URL, CANCEL_URL)
    assert session_call.idempotency_key.startswith(f"creatorscrape-checkout-{user_id}-")

    stored = db.execute(
        "select user_id, pack_id, credits, amount_total, currency, customer_id, status, granted_at"
        " from public.stripe_payments where checkout_session_id = %s",
        (session_id,),
    ).fetchone()
    assert stored == {
        "user_id": stored["user_id"],
        "pack_id": "growth",
        "credits": 6000,
        "amount_total": 5000,
        "currency": "usd",
        "customer_id": customer["id"],
        "status": "open",
        "granted_at": None,
    }
    assert str(stored["user_id"]) == user_id
    customer_row = db.execute(
        "select customer_id from public.stripe_customers where user_id = %s", (user_id,)
    ).fetchone()
    assert customer_row["customer_id"] == customer["id"]
    assert balance_of(db, user_id) == 0  # nothing is granted before Stripe says it is paid


def test_checkout_with_api_key_is_free_and_reuses_the_customer(api, db, fake_stripe):
    user_id = make_user(db, credits=3)
    key = make_key(db, user_id)
    first = api.post(
        "/v1/billing/checkout", json={"pack_id": "starter"}, headers={"x-api-key": key}
    )
    second = api.post("/v1/billing/checkout", json={"pack_id": "scale"}, headers={"x-api-key": key})
    assert (first.status_code, second.status_code) == (201, 201)
    assert (
        first.get_json()["data"]["checkout_session_id"]
        != (second.get_json()["data"]["checkout_session_id"])
    )
    assert len(fake_stripe.customers) == 1
    assert len(fake_stripe.requests_to("POST", "/v1/customers")) == 1
    customers = {s["customer"] for s in fake_stripe.checkout_sessions.values()}
    assert customers == set(fake_stripe.customers)
    assert balance_of(db, user_id) == 3


def test_idempotency_key_retry_returns_the_same_session(api, billing_app, db, fake_stripe):
    user_id = make_user(db)
    headers = {**bearer_for(billing_app, user_id), "Idempotency-Key": "buy-click-1"}
    first = api.post("/v1/billing/checkout", json={"pack_id": "starter"}, headers=headers)
    retry = api.post("/v1/billing/checkout", json={"pack_id": "starter"}, headers=headers)
    assert first.get_json()["data"] == retry.get_json()["data"]
    assert len(fake_stripe.checkout_sessions) == 1
    calls = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert [c.replayed for c in calls] == [False, True]
    assert calls[0].idempotency_key == calls[1].idempotency_key
    assert db.execute("select count(*) as n from public.stripe_payments").fetchone()["n"] == 1


def test_concurrent_checkouts_for_a_new_user_create_exactly_one_customer(
    billing_app, live_url, db, fake_stripe
):
    fake_stripe.reset()
    fake_stripe.customer_delay = 0.3  # a wide window for a race, were there one
    user_id = make_user(db)
    headers = bearer_for(billing_app, user_id)
    barrier = threading.Barrier(8)

    def buy(_: int) -> requests.Response:
        with requests.Session() as session:
            barrier.wait()
            return session.post(
                f"{live_url}/v1/billing/checkout",
                json={"pack_id": "starter"},
                headers=headers,
                timeout=30,
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(buy, range(8)))
    assert [r.status_code for r in responses] == [201] * 8
    assert len(fake_stripe.customers) == 1
    assert len(fake_stripe.requests_to("POST", "/v1/customers")) == 1
    assert len(fake_stripe.checkout_sessions) == 8
    assert {s["customer"] for s in fake_stripe.checkout_sessions.values()} == set(
        fake_stripe.customers
    )
    rows = db.execute("select count(*) as n from public.stripe_customers").fetchone()
    assert rows["n"] == 1


def test_unknown_pack_is_404_without_calling_stripe(api, billing_app, db, fake_stripe):
    user_id = make_user(db)
    response = checkout_as(api, billing_app, user_id, "mega")
    assert response.status_code == 404
    assert error_code(response) == "pack_not_found"
    assert response.get_json()["error"]["details"] == {"pack_id": "mega"}
    assert fake_stripe.requests == []


def test_missing_pack_id_is_a_validation_error(api, billing_app, db):
    user_id = make_user(db)
    response = api.post("/v1/billing/checkout", json={}, headers=bearer_for(billing_app, user_id))
    assert response.status_code == 400
    assert error_code(response) == "validation_error"


def test_stripe_refusing_the_price_is_502_and_records_nothing(
    api, billing_app, db, fake_stripe, extra_pack
):
    extra_pack("ghost", "price_not_at_stripe")
    user_id = make_user(db)
    response = checkout_as(api, billing_app, user_id, "ghost")
    assert response.status_code == 502
    assert error_code(response) == "payment_provider_error"
    assert response.get_json()["error"]["details"] == {"provider_code": "resource_missing"}
    assert db.execute("select count(*) as n from public.stripe_payments").fetchone()["n"] == 0


def test_stripe_outage_is_502(api, billing_app, db, fake_stripe):
    user_id = make_user(db)
    for _ in range(3):  # the first try and stripe-python's two retries
        fake_stripe.fail_next("/v1/customers", status=500, type_="api_error")
    response = checkout_as(api, billing_app, user_id, "starter")
    assert response.status_code == 502
    assert error_code(response) == "payment_provider_error"
    assert fake_stripe.customers == {}
    calls = fake_stripe.requests_to("POST", "/v1/customers")
    assert len(calls) == 3
    assert {c.idempotency_key for c in calls} == {f"creatorscrape-customer-{user_id}"}
    assert db.execute("select count(*) as n from public.stripe_customers").fetchone()["n"] == 0
    # the next attempt works and still creates a single customer
    retry = checkout_as(api, billing_app, user_id, "starter")
    assert retry.status_code == 201
    assert len(fake_stripe.customers) == 1


def test_suspended_account_cannot_check_out(api, billing_app, db, fake_stripe):
    user_id = make_user(db)
    db.execute(
        "update public.profiles set suspended_at = now(), suspended_reason = 'payment_dispute'"
        " where id = %s",
        (user_id,),
    )
    response = checkout_as(api, billing_app, user_id, "starter")
    assert response.status_code == 403
    assert error_code(response) == "account_suspended"
    assert fake_stripe.requests == []


@pytest.mark.parametrize(
    "headers, code",
    [
        ({}, "invalid_api_key"),
        ({"x-api-key": "cs_live_nope"}, "invalid_api_key"),
        ({"Authorization": "Bearer not.a.jwt"}, "invalid_token"),
    ],
)
def test_checkout_and_portal_need_a_caller(api, fake_stripe, headers, code):
    for path in ("/v1/billing/checkout", "/v1/billing/portal"):
        response = api.post(path, json={"pack_id": "starter"}, headers=headers)
        assert response.status_code == 401
        assert error_code(response) == code
    assert fake_stripe.requests == []


# -- portal ---------------------------------------------------------------------------------


def test_portal_returns_a_customer_portal_url(api, billing_app, db, fake_stripe):
    user_id = make_user(db)
    checkout_as(api, billing_app, user_id, "starter")
    response = api.post("/v1/billing/portal", headers=bearer_for(billing_app, user_id))
    assert response.status_code == 200
    [portal] = fake_stripe.portal_sessions.values()
    assert response.get_json()["data"]["url"] == portal["url"]
    assert portal["return_url"] == PORTAL_RETURN_URL
    assert portal["customer"] in fake_stripe.customers
    assert len(fake_stripe.customers) == 1


# -- not configured -------------------------------------------------------------------------


def test_without_stripe_configuration_billing_is_503_but_packs_are_listed(client, db, app):
    user_id = make_user(db)
    headers = bearer_for(app, user_id)
    for path, body in (
        ("/v1/billing/checkout", {"pack_id": "starter"}),
        ("/v1/billing/portal", None),
    ):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 503
        assert error_code(response) == "billing_unavailable"
    assert client.get("/v1/billing/packs").status_code == 200
    assert db.execute("select count(*) as n from public.stripe_customers").fetchone()["n"] == 0


def test_openapi_documents_billing_with_error_codes(api):
    spec = api.get("/v1/openapi.json").get_json()
    paths = spec["paths"]
    for path in (
        "/v1/billing/packs",
        "/v1/billing/checkout",
        "/v1/billing/portal",
        "/v1/billing/webhook",
    ):
        assert path in paths
    checkout_op = paths["/v1/billing/checkout"]["post"]
    assert "pack_not_found" in checkout_op["responses"]["404"]["description"]
    assert "billing_unavailable" in checkout_op["responses"]["503"]["description"]
    assert "payment_provider_error" in checkout_op["responses"]["502"]["description"]
    assert not paths["/v1/billing/packs"]["get"].get("security")  # public
    assert not paths["/v1/billing/webhook"]["post"].get("security")  # Stripe signs it instead
    assert checkout_op["security"] == [{"BearerAuth": []}, {"ApiKeyAuth": []}]
    assert (
        "invalid_signature"
        in paths["/v1/billing/webhook"]["post"]["responses"]["400"]["description"]
    )
