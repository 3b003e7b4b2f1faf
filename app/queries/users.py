"""Users and profiles."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg


def create_local_user(conn: psycopg.Connection, email: str) -> dict[str, Any]:
    """Insert an ``auth.users`` row (embedded database only; Supabase Auth owns that table in
    production). The ``on_auth_user_created`` trigger creates the profile, the balance and the
    signup grant. Returns ``{"id", "email"}``; raises ``psycopg.errors.UniqueViolation`` when the
    e-mail exists."""
    return conn.execute(
        "insert into auth.users (email, email_confirmed_at) values (lower(%s), now())"
        " returning id, email",
        (email,),
    ).fetchone()


def find_by_email(conn: psycopg.Connection, email: str) -> dict[str, Any] | None:
    """The profile ``{"id", "email", "plan", "suspended_at"}`` with this e-mail, or None."""
    return conn.execute(
        "select id, email, plan, suspended_at from public.profiles where lower(email) = lower(%s)",
        (email,),
    ).fetchone()


def set_plan(conn: psycopg.Connection, user_id: UUID | str, plan: str) -> None:
    """Change a user's plan (selects their rate limit)."""
    conn.execute(
        "update public.profiles set plan = %s, updated_at = now() where id = %s", (plan, user_id)
    )
