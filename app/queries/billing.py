"""Billing SQL: credit packs, Stripe customers, Checkout Sessions, webhook events, disputes.

Credits move only through ``public.grant_credits`` and ``public.revoke_credits``; everything else
here is bookkeeping that lets the webhook map a Stripe object to a user without calling Stripe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb


def active_packs(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Active credit packs in listing order."""
    return conn.execute(
        "select id, name, credits, unit_amount, currency, stripe_price_id"
        "  from public.credit_packs where active order by sort_order, credits, id"
    ).fetchall()


def pack(conn: psycopg.Connection, pack_id: str) -> dict[str, Any] | None:
    """One active pack, or None."""
    return conn.execute(
        "select id, name, credits, unit_amount, currency, stripe_price_id"
        "  from public.credit_packs where id = %s and active",
        (pack_id,),
    ).fetchone()


# -- customers ------------------------------------------------------------------------------


def customer_id(conn: psycopg.Connection, user_id: UUID | str) -> str | None:
    """The user's Stripe Customer id, or None."""
    row = conn.execute(
        "select customer_id from public.stripe_customers where user_id = %s", (user_id,)
    ).fetchone()
    return None if row is None else row["customer_id"]


def lock_profile(conn: psycopg.Connection, user_id: UUID | str) -> dict[str, Any] | None:
    """``select ... for update`` of the profile (inside a transaction): serialises the creation
    of the user's Stripe Customer. Returns ``{"id", "email", "suspended_at"}`` or None."""
    return conn.execute(
        "select id, email, suspended_at from public.profiles where id = %s for update", (user_id,)
    ).fetchone()


def profile_status(conn: psycopg.Connection, user_id: UUID | str) -> dict[str, Any] | None:
    """``{"id", "email", "suspended_at"}`` of a profile, or None."""
    return conn.execute(
        "select id, email, suspended_at from public.profiles where id = %s", (user_id,)
    ).fetchone()


def insert_customer(conn: psycopg.Connection, user_id: UUID | str, customer: str) -> None:
    """Store the user's Stripe Customer id (the profile lock makes this the only writer)."""
    conn.execute(
        "insert into public.stripe_customers (user_id, customer_id) values (%s, %s)",
        (user_id, customer),
    )


# -- checkout sessions ---------------------------------------------------------------------


def record_checkout(
    conn: psycopg.Connection,
    *,
    session_id: str,
    user_id: UUID | str,
    pack_id: str,
    credits: int,
    amount_total: int | None,
    currency: str | None,
    customer: str | None,
) -> None:
    """Remember a Checkout Session we created (``open``); a replayed creation changes nothing."""
    conn.execute(
        "insert into public.stripe_payments"
        " (checkout_session_id, user_id, pack_id, credits, amount_total, currency, customer_id)"
        " values (%s, %s, %s, %s, %s, %s, %s)"
        " on conflict (checkout_session_id) do nothing",
        (session_id, user_id, pack_id, credits, amount_total, currency, customer),
    )


def lock_payment(conn: psycopg.Connection, session_id: str) -> dict[str, Any] | None:
    """The session's row, locked ``for update``: every event of one session queues here."""
    return conn.execute(
        "select * from public.stripe_payments where checkout_session_id = %s for update",
        (session_id,),
    ).fetchone()


def lock_payment_for_charge(
    conn: psycopg.Connection, payment_intent_id: str | None, charge_id: str | None
) -> dict[str, Any] | None:
    """The fulfilled session paid by this PaymentIntent (or charge), locked, or None."""
    return conn.execute(
        "select * from public.stripe_payments"
        " where (payment_intent_id = %(pi)s or charge_id = %(ch)s) and granted_at is not null"
        " order by checkout_session_id limit 1 for update",
        {"pi": payment_intent_id, "ch": charge_id},
    ).fetchone()


def update_payment(conn: psycopg.Connection, session_id: str, **columns: Any) -> None:
    """Set ``columns`` (from a fixed allow-list) on the session's row."""
    allowed = {
        "status",
        "payment_intent_id",
        "charge_id",
        "amount_total",
        "currency",
        "customer_id",
        "amount_refunded",
        "credits_reversed",
        "granted_at",
    }
    unknown = set(columns) - allowed
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if not columns:
        return
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name))
        for name in sorted(columns)
    )
    conn.execute(
        sql.SQL(
            "update public.stripe_payments set {}, updated_at = now()"
            " where checkout_session_id = %(session_id)s"
        ).format(assignments),
        {**columns, "session_id": session_id},
    )


def mark_granted(conn: psycopg.Connection, session_id: str, payment_intent_id: str | None) -> None:
    """Status ``paid``, ``granted_at`` now (first time only), and the PaymentIntent id."""
    conn.execute(
        "update public.stripe_payments"
        "   set status = 'paid', granted_at = coalesce(granted_at, now()),"
        "       payment_intent_id = coalesce(%(pi)s, payment_intent_id), updated_at = now()"
        " where checkout_session_id = %(session_id)s",
        {"pi": payment_intent_id, "session_id": session_id},
    )


def record_fulfilment_alert(
    conn: psycopg.Connection,
    event_id: str,
    event_type: str,
    *,
    session_id: str,
    reason: str,
    user_id: UUID | str | None,
    expected_amount: int | None,
    expected_currency: str | None,
    paid_amount: Any,
    paid_currency: Any,
    claimed: dict[str, Any],
) -> None:
    """Record a paid session that granted nothing (``public.stripe_fulfilment_alerts``), once
    per session and reason (the first event that announced it)."""
    conn.execute(
        "insert into public.stripe_fulfilment_alerts (checkout_session_id, reason, event_id,"
        " event_type, user_id, expected_amount, expected_currency, paid_amount, paid_currency,"
        " claimed_metadata) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " on conflict (checkout_session_id, reason) do nothing",
        (
            session_id[:255],
            reason,
            event_id,
            event_type,
            user_id,
            expected_amount,
            expected_currency,
            paid_amount
            if isinstance(paid_amount, int) and not isinstance(paid_amount, bool)
            else None,
            paid_currency[:16] if isinstance(paid_currency, str) else None,
            Jsonb(claimed),
        ),
    )


def grant_purchase(
    conn: psycopg.Connection, user_id: UUID | str, credits: int, session_id: str
) -> dict[str, Any]:
    """``grant_credits(user, credits, 'purchase', session_id)``: once per Checkout Session."""
    return conn.execute(
        "select * from public.grant_credits(%s, %s, 'purchase', %s)",
        (user_id, credits, session_id),
    ).fetchone()


def revoke(
    conn: psycopg.Connection, user_id: UUID | str, credits: int, reason: str, ref: str
) -> dict[str, Any]:
    """``revoke_credits``: returns ``{"applied", "revoked", "shortfall", "balance"}``."""
    return conn.execute(
        "select * from public.revoke_credits(%s, %s, %s, %s)", (user_id, credits, reason, ref)
    ).fetchone()


# -- webhook events ------------------------------------------------------------------------


def claim_event(
    conn: psycopg.Connection,
    event_id: str,
    event_type: str,
    livemode: bool,
    created_at: datetime | None,
) -> bool:
    """Insert the event id; False when it was already processed (or is being processed by a
    concurrent delivery, which this call then waits for)."""
    row = conn.execute(
        "insert into public.stripe_events (id, type, livemode, stripe_created_at)"
        " values (%s, %s, %s, %s) on conflict (id) do nothing returning id",
        (event_id, event_type, livemode, created_at),
    ).fetchone()
    return row is not None


def finish_event(
    conn: psycopg.Connection,
    event_id: str,
    outcome: str,
    payment_intent_id: str | None = None,
    pending_object: dict[str, Any] | None = None,
) -> None:
    """Record the outcome (and, for unmatched charge events, what to replay later)."""
    conn.execute(
        "update public.stripe_events"
        "   set processed_at = now(), outcome = %s, payment_intent_id = %s, pending_object = %s"
        " where id = %s",
        (
            outcome,
            payment_intent_id,
            Jsonb(pending_object) if pending_object is not None else None,
            event_id,
        ),
    )


def take_unmatched(conn: psycopg.Connection, payment_intent_id: str) -> list[dict[str, Any]]:
    """Unmatched charge events waiting for this PaymentIntent, oldest first, locked."""
    return conn.execute(
        "select id, type, pending_object from public.stripe_events"
        " where outcome = 'unmatched' and payment_intent_id = %s"
        " order by stripe_created_at nulls last, received_at, id for update",
        (payment_intent_id,),
    ).fetchall()


def mark_replayed(conn: psycopg.Connection, event_id: str, outcome: str) -> None:
    """An unmatched event was applied on fulfilment."""
    conn.execute(
        "update public.stripe_events set outcome = %s, pending_object = null,"
        " processed_at = now() where id = %s",
        (f"replayed:{outcome}", event_id),
    )


# -- disputes ------------------------------------------------------------------------------


def open_dispute(
    conn: psycopg.Connection,
    *,
    dispute_id: str,
    user_id: UUID | str,
    session_id: str,
    charge_id: str | None,
    amount: int | None,
    reason: str | None,
    status: str,
) -> dict[str, Any]:
    """Insert the dispute (a redelivery or an earlier ``closed`` keeps the stored row); returns
    the stored row."""
    conn.execute(
        "insert into public.stripe_disputes"
        " (id, user_id, checkout_session_id, charge_id, amount, reason, status)"
        " values (%s, %s, %s, %s, %s, %s, %s) on conflict (id) do nothing",
        (dispute_id, user_id, session_id, charge_id, amount, reason, status),
    )
    return conn.execute(
        "select * from public.stripe_disputes where id = %s", (dispute_id,)
    ).fetchone()


def close_dispute(
    conn: psycopg.Connection,
    *,
    dispute_id: str,
    user_id: UUID | str,
    session_id: str,
    charge_id: str | None,
    amount: int | None,
    reason: str | None,
    status: str,
) -> None:
    """Record the dispute as closed with Stripe's final ``status`` (won, lost, ...)."""
    conn.execute(
        "insert into public.stripe_disputes"
        " (id, user_id, checkout_session_id, charge_id, amount, reason, status, closed_at)"
        " values (%s, %s, %s, %s, %s, %s, %s, now())"
        " on conflict (id) do update set status = excluded.status,"
        "   closed_at = coalesce(public.stripe_disputes.closed_at, now())",
        (dispute_id, user_id, session_id, charge_id, amount, reason, status),
    )


def suspend_for_dispute(conn: psycopg.Connection, user_id: UUID | str) -> bool:
    """Suspend the account (``suspended_reason = 'payment_dispute'``) unless it already is
    suspended; True when this call suspended it."""
    row = conn.execute(
        "update public.profiles set suspended_at = now(), suspended_reason = 'payment_dispute',"
        " updated_at = now() where id = %s and suspended_at is null returning id",
        (user_id,),
    ).fetchone()
    return row is not None


def lift_dispute_suspension(conn: psycopg.Connection, user_id: UUID | str) -> bool:
    """Lift a ``payment_dispute`` suspension when no dispute of the user is still open and none
    was lost. Suspensions for other reasons are left alone. True when lifted."""
    row = conn.execute(
        "update public.profiles p set suspended_at = null, suspended_reason = null,"
        " updated_at = now()"
        " where p.id = %(uid)s and p.suspended_reason = 'payment_dispute'"
        "   and not exists (select 1 from public.stripe_disputes d"
        "                    where d.user_id = %(uid)s"
        "                      and (d.closed_at is null or d.status = 'lost'))"
        " returning p.id",
        {"uid": user_id},
    ).fetchone()
    return row is not None
