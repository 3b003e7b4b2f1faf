"""The app's Stripe client and the mapping of Stripe failures to API errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import stripe
from flask import current_app

from app.errors import BillingUnavailable, IdempotencyConflict, PaymentProviderError

log = logging.getLogger(__name__)

_REQUIRED = ("STRIPE_SECRET_KEY", "CHECKOUT_SUCCESS_URL", "CHECKOUT_CANCEL_URL")


def stripe_client() -> stripe.StripeClient:
    """The current app's ``StripeClient`` (created on first use, kept in ``app.extensions``).

    Raises 503 ``billing_unavailable`` when ``STRIPE_SECRET_KEY`` or the checkout URLs are not
    configured. ``STRIPE_API_BASE`` (tests only) points it at a local fake of Stripe's API.
    """
    config = current_app.config
    missing = [name for name in _REQUIRED if not config.get(name)]
    if missing:
        log.warning("billing is not configured", extra={"missing": missing})
        raise BillingUnavailable()
    client = current_app.extensions.get("stripe_client")
    if client is None:
        base = config.get("STRIPE_API_BASE") or None
        client = stripe.StripeClient(
            config["STRIPE_SECRET_KEY"],
            base_addresses={"api": base} if base else None,
            max_network_retries=2,
            http_client=stripe.RequestsClient(timeout=config.get("STRIPE_API_TIMEOUT", 20.0)),
        )
        current_app.extensions["stripe_client"] = client
    return client


@contextmanager
def provider_errors(action: str) -> Iterator[None]:
    """Turn a failed Stripe call into 502 ``payment_provider_error`` (409
    ``idempotency_conflict`` when Stripe saw the idempotency key with other parameters)."""
    try:
        yield
    except stripe.IdempotencyError as exc:
        log.warning("stripe idempotency error", extra={"action": action, "stripe_code": exc.code})
        raise IdempotencyConflict() from None
    except stripe.StripeError as exc:
        log.error(
            "stripe call failed",
            extra={
                "action": action,
                "stripe_error": type(exc).__name__,
                "stripe_code": exc.code,
                "http_status": exc.http_status,
                "stripe_request_id": exc.request_id,
            },
        )
        details = {"provider_code": exc.code} if exc.code else {}
        raise PaymentProviderError(details=details) from None
