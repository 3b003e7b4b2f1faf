"""Stripe webhooks: signature verification and exactly-once fulfilment.

``verify(payload, header)`` checks ``Stripe-Signature`` on the raw body with stripe-python
(HMAC-SHA256 ``v1`` scheme, timestamp tolerance ``STRIPE_WEBHOOK_TOLERANCE``). ``process(event)``
then runs ONE transaction that inserts the event id into ``public.stripe_events`` (``on conflict
do nothing``: a redelivery, or a concurrent delivery once the first commits, finds it and changes
nothing) and applies the event:

- ``checkout.session.completed`` with ``payment_status`` paid (or no_payment_required) and
  ``checkout.session.async_payment_succeeded``: ``grant_credits(user, credits, 'purchase',
  session id)``, once per session whichever arrives first (the session row is locked, and the
  ledger's ``unique (reason, ref)`` backs it). ``completed`` while unpaid marks it pending.
  Only what we sold is granted: the user, pack and credits ``/v1/billing/checkout`` recorded
  (``stripe_payments``), never the event's metadata, and only when the session's
  ``amount_total`` and ``currency`` equal the recorded price. A paid session we never created,
  or one that does not match, grants nothing and is recorded in
  ``public.stripe_fulfilment_alerts`` for an admin.
- ``checkout.session.async_payment_failed`` / ``checkout.session.expired``: status only.
- ``charge.refunded``: takes back ``floor(credits * amount_refunded / amount)`` minus what earlier
  refunds took (``revoke_credits``, ref ``<charge>:<amount_refunded>``): repeated or out-of-order
  deliveries take nothing more; never below zero (shortfall recorded, account flagged).
- ``charge.dispute.created``: suspends the account; ``charge.dispute.closed`` with status won
  (or warning_closed) lifts it once no dispute of the user is open or lost.
- Refund and dispute events for a payment not fulfilled yet are kept (``unmatched``) and applied
  when the payment is. Every other event type is recorded as ``ignored`` and answered 2xx.

No Stripe API call is made here: charges map to users through ``stripe_payments``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from flask import current_app

from app import db
from app.billing import event_shape
from app.errors import BillingUnavailable, InvalidSignature
from app.queries import billing as queries

log = logging.getLogger(__name__)

PAID_STATUSES = {"paid", "no_payment_required"}
REFUND_REASON = "purchase_refund"
LIFTING_DISPUTE_STATUSES = {"won", "warning_closed"}


def verify(payload: bytes, header: str | None) -> dict[str, Any]:
    """The event in ``payload`` once its ``Stripe-Signature`` ``header`` checks out.

    Raises 503 ``billing_unavailable`` without ``STRIPE_WEBHOOK_SECRET``, 400
    ``invalid_signature`` for a missing, malformed, wrong or stale signature, and
    ``event_shape.MalformedEvent`` for a signed body that is not a well-formed event.
    """
    config = current_app.config
    secret = config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise BillingUnavailable()
    try:
        stripe.WebhookSignature.verify_header(
            payload, header, secret, tolerance=config.get("STRIPE_WEBHOOK_TOLERANCE", 300)
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        log.warning("stripe webhook signature rejected: %s", str(exc)[:120])
        raise InvalidSignature() from None
    return event_shape.parse(payload)


@dataclass(frozen=True)
class Outcome:
    """What an event did. ``pending_intent``/``pending_object``: an unmatched charge event to
    replay when the PaymentIntent's session is fulfilled. ``alert``: a paid session that does
    not match what we sold (columns of ``public.stripe_fulfilment_alerts``)."""

    outcome: str
    pending_intent: str | None = None
    pending_object: dict[str, Any] | None = None
    alert: dict[str, Any] | None = None


def process(event: dict[str, Any]) -> dict[str, Any]:
    """Apply a verified event exactly once. Returns ``{"duplicate", "outcome"}``."""
    event_id = event["id"]
    event_type = str(event.get("type") or "")
    created = event.get("created")
    created_at = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None
    with db.connection() as conn, conn.transaction():
        if not queries.claim_event(
            conn, event_id, event_type, bool(event.get("livemode")), created_at
        ):
            return {"duplicate": True, "outcome": "duplicate"}
        result = _apply(conn, event_type, event["data"]["object"])
        queries.finish_event(
            conn, event_id, result.outcome, result.pending_intent, result.pending_object
        )
        if result.alert is not None:
            queries.record_fulfilment_alert(conn, event_id, event_type, **result.alert)
    log.info(
        "stripe event", extra={"event_id": event_id, "type": event_type, "outcome": result.outcome}
    )
    return {"duplicate": False, "outcome": result.outcome}


def _apply(conn, event_type: str, obj: dict[str, Any]) -> Outcome:
    handler = _HANDLERS.get(event_type)
    if handler is None:
        return Outcome("ignored")
    return handler(conn, event_type, obj)


# -- checkout sessions ---------------------------------------------------------------------


def _session_row(conn, session: dict[str, Any]) -> dict[str, Any] | None:
    """The row ``/v1/billing/checkout`` recorded for this session, locked, or None (a session
    we did not create, or not a one-time payment)."""
    session_id = session.get("id")
    if not isinstance(session_id, str) or session.get("mode") not in (None, "payment"):
        return None
    return queries.lock_payment(conn, session_id)


def _paid(event_type: str, session: dict[str, Any]) -> bool:
    return event_type == "checkout.session.async_payment_succeeded" or (
        event_type == "checkout.session.completed"
        and session.get("payment_status") in PAID_STATUSES
    )


def _text(value: Any) -> str | None:
    return value.replace("\x00", "")[:200] if isinstance(value, str) else None


def _claimed(session: dict[str, Any]) -> dict[str, Any]:
    """What an untrusted session says about itself, kept for the admin: string values only,
    at most 20 metadata keys of 200 characters (Stripe's own metadata limits are 50 / 500)."""
    metadata = session.get("metadata")
    kept = {}
    if isinstance(metadata, dict):
        for name, value in list(metadata.items())[:20]:
            kept[_text(name) or "?"] = _text(value)
    return {
        "metadata": kept,
        "client_reference_id": _text(session.get("client_reference_id")),
        "customer": _text(session.get("customer")),
    }


def _mismatch(row: dict[str, Any], session: dict[str, Any]) -> str | None:
    """``amount_mismatch`` / ``currency_mismatch`` when the paid session differs from the
    price recorded at checkout, else None."""
    paid_currency = session.get("currency")
    if not isinstance(paid_currency, str) or paid_currency.lower() != row["currency"]:
        return "currency_mismatch"
    paid_amount = session.get("amount_total")
    if isinstance(paid_amount, bool) or paid_amount != row["amount_total"]:
        return "amount_mismatch"
    return None


def _checkout_session(conn, event_type: str, session: dict[str, Any]) -> Outcome:
    row = _session_row(conn, session)
    paid = _paid(event_type, session)
    if row is None:
        if not paid or session.get("mode") not in (None, "payment"):
            return Outcome("ignored")
        if not isinstance(session.get("id"), str):
            return Outcome("ignored")
        return Outcome(
            "unknown_session",
            alert={
                "session_id": session["id"],
                "reason": "unknown_session",
                "user_id": None,
                "expected_amount": None,
                "expected_currency": None,
                "paid_amount": session.get("amount_total"),
                "paid_currency": session.get("currency"),
                "claimed": _claimed(session),
            },
        )
    session_id = row["checkout_session_id"]
    payment_intent = session.get("payment_intent")
    if paid:
        mismatch = _mismatch(row, session)
        if mismatch is not None and row["granted_at"] is None:
            return Outcome(
                mismatch,
                alert={
                    "session_id": session_id,
                    "reason": mismatch,
                    "user_id": row["user_id"],
                    "expected_amount": row["amount_total"],
                    "expected_currency": row["currency"],
                    "paid_amount": session.get("amount_total"),
                    "paid_currency": session.get("currency"),
                    "claimed": _claimed(session),
                },
            )
        granted = queries.grant_purchase(conn, row["user_id"], row["credits"], session_id)
        queries.mark_granted(conn, session_id, payment_intent)
        if payment_intent:
            _replay_unmatched(conn, payment_intent)
        return Outcome("granted" if granted["applied"] else "already_granted")
    if row["granted_at"] is not None:
        return Outcome("already_granted")
    if event_type == "checkout.session.completed":
        queries.update_payment(
            conn, session_id, status="pending", payment_intent_id=payment_intent or None
        )
        return Outcome("pending")
    if event_type == "checkout.session.async_payment_failed":
        queries.update_payment(conn, session_id, status="failed")
        return Outcome("failed")
    if row["status"] == "open":  # checkout.session.expired
        queries.update_payment(conn, session_id, status="expired")
        return Outcome("expired")
    return Outcome("ignored")


# -- refunds and disputes ------------------------------------------------------------------

_KEEP = {
    "charge.refunded": ("id", "object", "amount", "amount_refunded", "payment_intent"),
    "charge.dispute.created": (
        "id",
        "object",
        "charge",
        "payment_intent",
        "amount",
        "reason",
        "status",
    ),
}
_KEEP["charge.dispute.closed"] = _KEEP["charge.dispute.created"]


def _unmatched(event_type: str, obj: dict[str, Any]) -> Outcome:
    """A charge event for no fulfilled payment of ours: keep what is needed to apply it once
    the PaymentIntent's session is fulfilled (events may arrive in any order)."""
    payment_intent = obj.get("payment_intent")
    if not isinstance(payment_intent, str):
        return Outcome("ignored")
    kept = {name: obj.get(name) for name in _KEEP[event_type]}
    return Outcome("unmatched", payment_intent, kept)


def _charge_refunded(conn, event_type: str, charge: dict[str, Any]) -> Outcome:
    charge_id = charge.get("id")
    row = queries.lock_payment_for_charge(conn, charge.get("payment_intent"), charge_id)
    if row is None:
        return _unmatched(event_type, charge)
    amount = int(charge.get("amount") or row["amount_total"] or 0)
    refunded = int(charge.get("amount_refunded") or 0)
    if amount <= 0 or refunded <= 0:
        return Outcome("ignored")
    credits = row["credits"]
    target = credits if refunded >= amount else credits * refunded // amount
    delta = target - row["credits_reversed"]
    outcome = "already_revoked"
    if delta > 0:
        result = queries.revoke(
            conn, row["user_id"], delta, REFUND_REASON, f"{charge_id}:{refunded}"
        )
        if result["applied"]:
            outcome = "revoked_with_shortfall" if result["shortfall"] else "revoked"
    queries.update_payment(
        conn,
        row["checkout_session_id"],
        charge_id=row["charge_id"] or charge_id,
        amount_refunded=max(row["amount_refunded"], refunded),
        credits_reversed=max(row["credits_reversed"], target),
    )
    return Outcome(outcome)


def _dispute(conn, event_type: str, dispute: dict[str, Any]) -> Outcome:
    dispute_id = dispute.get("id")
    if not isinstance(dispute_id, str):
        return Outcome("ignored")
    charge = dispute.get("charge")
    charge_id = charge.get("id") if isinstance(charge, dict) else charge
    row = queries.lock_payment_for_charge(conn, dispute.get("payment_intent"), charge_id)
    if row is None:
        return _unmatched(event_type, dispute)
    fields = {
        "dispute_id": dispute_id,
        "user_id": row["user_id"],
        "session_id": row["checkout_session_id"],
        "charge_id": charge_id,
        "amount": dispute.get("amount"),
        "reason": dispute.get("reason"),
        "status": str(dispute.get("status") or "unknown"),
    }
    if event_type == "charge.dispute.created":
        stored = queries.open_dispute(conn, **fields)
        if stored["closed_at"] is not None:
            return Outcome("dispute_already_closed")
        suspended = queries.suspend_for_dispute(conn, row["user_id"])
        return Outcome("suspended" if suspended else "already_suspended")
    queries.close_dispute(conn, **fields)
    if fields["status"] in LIFTING_DISPUTE_STATUSES:
        lifted = queries.lift_dispute_suspension(conn, row["user_id"])
        return Outcome("lifted" if lifted else "dispute_closed")
    return Outcome("dispute_closed")


def _replay_unmatched(conn, payment_intent: str) -> None:
    """Apply, in order, the charge events that arrived before this payment was fulfilled."""
    for pending in queries.take_unmatched(conn, payment_intent):
        result = _apply(conn, pending["type"], pending["pending_object"] or {})
        queries.mark_replayed(conn, pending["id"], result.outcome)


_HANDLERS = {
    "checkout.session.completed": _checkout_session,
    "checkout.session.async_payment_succeeded": _checkout_session,
    "checkout.session.async_payment_failed": _checkout_session,
    "checkout.session.expired": _checkout_session,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute,
    "charge.dispute.closed": _dispute,
}

HANDLED_EVENT_TYPES = tuple(_HANDLERS)
