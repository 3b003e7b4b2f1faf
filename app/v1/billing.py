"""Billing: credit packs, Stripe Checkout, the Customer Portal and Stripe's webhook.

Thin views: validation and auth here, Stripe logic in ``app.billing``, SQL in
``app.queries.billing``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from flask import g, request
from pydantic import BaseModel, Field

from app import db
from app.billing import checkout, event_shape, webhook
from app.errors import (
    AccountSuspended,
    BillingUnavailable,
    IdempotencyConflict,
    InvalidSignature,
    InvalidToken,
    PackNotFound,
    PaymentProviderError,
    Unavailable,
)
from app.openapi import (
    API_KEY_ERRORS,
    API_KEY_SECURITY,
    BEARER_SECURITY,
    error_responses,
    resource_blueprint,
)
from app.queries import billing as queries
from app.security import api_key_required, bearer_required

bp = resource_blueprint(
    "billing",
    __name__,
    "/billing",
    "Buy credits: list the packs, open a Stripe Checkout page for one, open the Stripe Customer "
    "Portal for receipts. Credits are added when Stripe confirms the payment (webhook).",
)

USER_SECURITY = [*BEARER_SECURITY, *API_KEY_SECURITY]
_USER_ERRORS = (
    InvalidToken,
    *API_KEY_ERRORS,
    AccountSuspended,
    BillingUnavailable,
    PaymentProviderError,
)


def user_required(view: Callable) -> Callable:
    """Authenticate with ``Authorization: Bearer`` (dashboard) when that header is present,
    else with ``x-api-key`` (a free call); ``_user_id()`` is then the caller."""
    keyed = api_key_required(cost=0)(view)
    bearer = bearer_required(view)

    @wraps(view)
    def authenticated(*args: Any, **kwargs: Any) -> Any:
        if request.headers.get("Authorization"):
            return bearer(*args, **kwargs)
        return keyed(*args, **kwargs)

    return authenticated


def _user_id() -> UUID:
    bearer = g.get("bearer")
    return bearer.user_id if bearer is not None else g.principal.user_id


class Meta(BaseModel):
    request_id: str = Field(description="This request's id.")


class Pack(BaseModel):
    id: str = Field(description="Pack id to send to /v1/billing/checkout.")
    name: str
    credits: int = Field(description="Credits added once the payment succeeds.")
    unit_amount: int = Field(description="Price in the smallest currency unit (cents for usd).")
    currency: str = Field(description="ISO 4217 code, lower case.")


class PacksResponse(BaseModel):
    data: list[Pack]
    meta: Meta


class CheckoutBody(BaseModel):
    pack_id: str = Field(min_length=1, max_length=40, description="A pack id from /packs.")


class CheckoutSession(BaseModel):
    checkout_session_id: str = Field(description="Stripe Checkout Session id (cs_...).")
    url: str = Field(description="Send the buyer here: Stripe's hosted payment page.")
    pack: Pack


class CheckoutResponse(BaseModel):
    data: CheckoutSession
    meta: Meta


class PortalSession(BaseModel):
    url: str = Field(description="Stripe Customer Portal: receipts, invoices, billing details.")


class PortalResponse(BaseModel):
    data: PortalSession
    meta: Meta


class WebhookResult(BaseModel):
    received: bool
    duplicate: bool = Field(description="True when this event id was already processed.")
    outcome: str = Field(description="What processing did (granted, ignored, ...).")


def _pack(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in ("id", "name", "credits", "unit_amount", "currency")}


@bp.get("/packs", responses={200: PacksResponse, **error_responses(Unavailable)}, security=[])
def list_packs():
    """The credit packs for sale, cheapest first. Public: no authentication."""
    with db.connection() as conn:
        rows = queries.active_packs(conn)
    return {"data": [_pack(r) for r in rows], "meta": {"request_id": g.request_id}}


@bp.post(
    "/checkout",
    responses={
        201: CheckoutResponse,
        **error_responses(*_USER_ERRORS, PackNotFound, IdempotencyConflict),
    },
    security=USER_SECURITY,
)
@user_required
def create_checkout(body: CheckoutBody):
    """Open a Stripe Checkout page for a pack; returns its `url`. Bearer token or `x-api-key`.

    Send an `Idempotency-Key` header to get the same session back on a retry. Credits are added
    when Stripe reports the payment (usually seconds after the buyer pays).

    Errors: 400 `validation_error`, 401 `invalid_token` / `invalid_api_key`, 403
    `account_suspended`, 404 `pack_not_found`, 409 `idempotency_conflict`, 429 `rate_limited`,
    502 `payment_provider_error`, 503 `billing_unavailable`.
    """
    client_key = request.headers.get("Idempotency-Key", "").strip()[:255] or g.request_id
    result = checkout.start_checkout(_user_id(), body.pack_id, client_key)
    return {
        "data": {
            "checkout_session_id": result.session_id,
            "url": result.url,
            "pack": _pack(result.pack),
        },
        "meta": {"request_id": g.request_id},
    }, 201


@bp.post(
    "/portal",
    responses={200: PortalResponse, **error_responses(*_USER_ERRORS)},
    security=USER_SECURITY,
)
@user_required
def create_portal():
    """A Stripe Customer Portal link for your receipts and invoices. Bearer token or `x-api-key`.

    Errors: 401 `invalid_token` / `invalid_api_key`, 403 `account_suspended` (API keys only),
    429 `rate_limited`, 502 `payment_provider_error`, 503 `billing_unavailable`.
    """
    return {"data": {"url": checkout.portal_url(_user_id())}, "meta": {"request_id": g.request_id}}


@bp.post(
    "/webhook",
    responses={200: WebhookResult, **error_responses(InvalidSignature, BillingUnavailable)},
    security=[],
)
def stripe_webhook():
    """Stripe's webhook endpoint (called by Stripe, not by you).

    The `Stripe-Signature` header is verified on the raw body; each event id is processed once.
    Handled: `checkout.session.completed`, `checkout.session.async_payment_succeeded`,
    `checkout.session.async_payment_failed`, `checkout.session.expired`, `charge.refunded`,
    `charge.dispute.created`, `charge.dispute.closed`; any other event is acknowledged (200).
    A signed body that is not a well-formed event (not JSON, nested deeper than 32 levels, NUL
    or lone surrogates in a string, an id or type that is not Stripe's, a `metadata` that is
    not an object) is recorded for admins and answered 200 with outcome `malformed`, so Stripe
    stops redelivering it; nothing else changes.

    Errors: 400 `invalid_signature` (nothing changes), 503 `billing_unavailable`.
    """
    payload = request.get_data(cache=False)
    try:
        event = webhook.verify(payload, request.headers.get("Stripe-Signature"))
    except event_shape.MalformedEvent as exc:
        return event_shape.record(payload, exc)
    result = webhook.process(event)
    return {"received": True, **result}
