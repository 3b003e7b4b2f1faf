"""Stripe Checkout for credit packs, the one Stripe Customer per profile, and the Customer Portal.

A Checkout Session is created in ``payment`` mode for the pack's Stripe Price, for the user's
Customer, with ``client_reference_id`` = user id and ``metadata`` = {user_id, pack_id, credits}
(also on the PaymentIntent). Nothing is granted here: the webhook grants the credits once the
payment succeeds (``app.billing.webhook``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from flask import current_app

from app import db
from app.billing.client import provider_errors, stripe_client
from app.errors import AccountSuspended, NotFound, PackNotFound
from app.queries import billing as queries


def customer_idempotency_key(user_id: UUID | str) -> str:
    """The idempotency key of the Customer create call: one Customer per user, even if two
    processes (or a retry after a lost response) ask at once."""
    return f"creatorscrape-customer-{user_id}"


def ensure_customer(user_id: UUID | str) -> str:
    """The user's Stripe Customer id, creating the Customer once.

    The profile row is locked (``select ... for update``) around the create call, so concurrent
    requests for a new user queue and the later ones find the stored id; the call also carries an
    idempotency key derived from the user id. Raises 404 ``not_found`` for an unknown user, 403
    ``account_suspended``, 502 ``payment_provider_error``.
    """
    client = stripe_client()
    with db.connection() as conn:
        existing = queries.customer_id(conn, user_id)
        if existing:
            return existing
        with conn.transaction():
            profile = queries.lock_profile(conn, user_id)
            if profile is None:
                raise NotFound("No such user.")
            existing = queries.customer_id(conn, user_id)
            if existing:
                return existing
            params: dict[str, Any] = {"metadata": {"user_id": str(user_id)}}
            if profile["email"]:
                params["email"] = profile["email"]
            with provider_errors("customers.create"):
                customer = client.v1.customers.create(
                    params, {"idempotency_key": customer_idempotency_key(user_id)}
                )
            queries.insert_customer(conn, user_id, customer.id)
            return customer.id


@dataclass(frozen=True)
class CheckoutResult:
    session_id: str
    url: str
    pack: dict[str, Any]


def start_checkout(user_id: UUID | str, pack_id: str, client_key: str) -> CheckoutResult:
    """Create a Checkout Session for ``pack_id`` and remember it (``stripe_payments``, open).

    ``client_key`` makes the Stripe call idempotent: the caller's ``Idempotency-Key`` (a retry
    gets the same session) or the request id. Raises 503 ``billing_unavailable``, 404
    ``pack_not_found``, 403 ``account_suspended``, 502 ``payment_provider_error``, 409
    ``idempotency_conflict``.
    """
    client = stripe_client()
    config = current_app.config
    with db.connection() as conn:
        pack = queries.pack(conn, pack_id)
        profile = queries.profile_status(conn, user_id)
    if pack is None:
        raise PackNotFound(details={"pack_id": pack_id})
    if profile is None:
        raise NotFound("No such user.")
    if profile["suspended_at"] is not None:
        raise AccountSuspended()

    customer = ensure_customer(user_id)
    metadata = {"user_id": str(user_id), "pack_id": pack["id"], "credits": str(pack["credits"])}
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"price": pack["stripe_price_id"], "quantity": 1}],
        "customer": customer,
        "client_reference_id": str(user_id),
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "invoice_creation": {"enabled": True},
        "success_url": config["CHECKOUT_SUCCESS_URL"],
        "cancel_url": config["CHECKOUT_CANCEL_URL"],
    }
    key_digest = hashlib.sha256(f"{pack['id']}\n{client_key}".encode()).hexdigest()[:32]
    with provider_errors("checkout.sessions.create"):
        session = client.v1.checkout.sessions.create(
            params, {"idempotency_key": f"creatorscrape-checkout-{user_id}-{key_digest}"}
        )
    fields = session.to_dict()
    with db.connection() as conn:
        queries.record_checkout(
            conn,
            session_id=fields["id"],
            user_id=user_id,
            pack_id=pack["id"],
            credits=pack["credits"],
            amount_total=pack["unit_amount"],  # what we sold: the webhook grants only this
            currency=pack["currency"],
            customer=customer,
        )
    return CheckoutResult(session_id=fields["id"], url=fields["url"], pack=pack)


def portal_url(user_id: UUID | str) -> str:
    """A Stripe Customer Portal session URL for the user (receipts, invoices), creating the
    Customer if needed. Raises 503 ``billing_unavailable``, 502 ``payment_provider_error``."""
    client = stripe_client()
    customer = ensure_customer(user_id)
    config = current_app.config
    params: dict[str, Any] = {"customer": customer}
    return_url = config.get("PORTAL_RETURN_URL") or config["CHECKOUT_CANCEL_URL"]
    params["return_url"] = return_url
    with provider_errors("billing_portal.sessions.create"):
        session = client.v1.billing_portal.sessions.create(params)
    return session.url
