"""Admin commands: ``flask --app wsgi <group> <command>``.

``db migrate``, ``users create``, ``users plan``, ``keys create``, ``keys revoke``,
``credits grant``, ``credits balance``, ``credits sweep-orphans`` and ``quickstart`` (a demo
user and key for the README).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import click
import psycopg
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from supabase_auth.errors import AuthError

from app import db, migrate, profiles
from app.errors import KeyLimitReached
from app.queries import credits as credit_queries
from app.queries import keys as key_queries
from app.queries import users as user_queries
from app.security import generate_api_key
from app.tokens import mint_access_token

db_cli = AppGroup("db", help="Database schema.")
users_cli = AppGroup("users", help="Users (auth.users + profiles).")
keys_cli = AppGroup("keys", help="API keys.")
credits_cli = AppGroup("credits", help="Credit balances.")


@db_cli.command("migrate")
def db_migrate() -> None:
    """Apply pending supabase/migrations files to DATABASE_URL (or the embedded database);
    works through a transaction-mode pooler (no prepared statements)."""
    with migrate.connect(current_app.config["DATABASE_URL"]) as conn:
        applied = migrate.apply_pending(conn)
    click.echo(f"applied: {', '.join(applied)}" if applied else "database is up to date")


def _require_user(conn: psycopg.Connection, email: str) -> dict:
    user = user_queries.find_by_email(conn, email)
    if user is None:
        raise click.ClickException(f"no user with e-mail {email}")
    return user


def create_user(email: str, password: str | None = None) -> dict:
    """Create a user: through Supabase Auth's admin API when SUPABASE_URL is configured, else
    directly in the embedded database's ``auth.users``. Returns ``{"id", "email"}``."""
    config = current_app.config
    if config["SUPABASE_URL"] and config["SUPABASE_SERVICE_ROLE_KEY"]:
        from supabase import create_client

        client = create_client(config["SUPABASE_URL"], config["SUPABASE_SERVICE_ROLE_KEY"])
        attributes = {"email": email, "email_confirm": True}
        if password:
            attributes["password"] = password
        user = client.auth.admin.create_user(attributes).user
        return {"id": user.id, "email": user.email}
    with db.connection() as conn:
        return user_queries.create_local_user(conn, email)


@users_cli.command("create")
@click.argument("email")
@click.option("--password", default=None, help="Only with Supabase Auth (local users have none).")
def users_create(email: str, password: str | None) -> None:
    """Create a user (who receives the signup grant)."""
    try:
        user = create_user(email, password)
    except psycopg.errors.UniqueViolation as exc:
        raise click.ClickException(f"a user with e-mail {email} exists") from exc
    except AuthError as exc:  # Supabase Auth refused (e.g. email_exists, weak password)
        raise click.ClickException(f"Supabase Auth: {exc.message}") from exc
    click.echo(f"created user {user['id']} <{user['email']}>")


@users_cli.command("plan")
@click.argument("email")
@click.argument("plan")
def users_plan(email: str, plan: str) -> None:
    """Set a user's plan (rate-limit tier)."""
    with db.connection() as conn:
        user = _require_user(conn, email)
        user_queries.set_plan(conn, user["id"], plan)
    click.echo(f"{email}: plan {plan}")


def _user_claims(user_id: str) -> dict:
    """The claims an access token of ``user_id`` carries, for ``db.as_user``."""
    return {"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}


def mint_key(
    user_id: str, name: str, expires_in_days: int | None = None, replace: bool = False
) -> str:
    """Create a key for ``user_id`` as the user would (``db.as_user``), so the database's
    per-user limit (``MAX_ACTIVE_KEYS_PER_USER``) applies; returns the plaintext (shown once,
    never stored). ``replace=True`` first revokes the user's active keys named ``name``.

    Raises ``KeyLimitReached`` (409 ``key_limit_reached``, details ``limit``, ``active``).
    """
    new_key = generate_api_key()
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with db.as_user(_user_claims(user_id)) as conn:
        if replace:
            for row in key_queries.list_own(conn, 1000):
                if row["name"] == name and row["status"] == "active":
                    key_queries.revoke_own(conn, row["id"])
        key_queries.set_key_limit(conn, current_app.config["MAX_ACTIVE_KEYS_PER_USER"])
        key_queries.create_own(conn, name, new_key.key_hash, new_key.prefix, [], expires_at)
    return new_key.plaintext


def _limit_message(exc: KeyLimitReached) -> str:
    return (
        f"the user has {exc.details.get('active')} active keys, the limit "
        f"(MAX_ACTIVE_KEYS_PER_USER) is {exc.details.get('limit')}: revoke one first "
        "(keys list, keys revoke)"
    )


@keys_cli.command("create")
@click.argument("email")
@click.option("--name", default="cli", show_default=True)
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None)
def keys_create(email: str, name: str, expires_in_days: int | None) -> None:
    """Mint an API key for a user and print it once. Refused when the user already holds
    MAX_ACTIVE_KEYS_PER_USER active keys."""
    with db.connection() as conn:
        user = _require_user(conn, email)
    try:
        click.echo(mint_key(user["id"], name, expires_in_days))
    except KeyLimitReached as exc:
        raise click.ClickException(_limit_message(exc)) from None


@keys_cli.command("revoke")
@click.argument("key_id", type=click.UUID)
def keys_revoke(key_id: uuid.UUID) -> None:
    """Revoke a key by id (effective on its next request)."""
    with db.connection() as conn:
        row = key_queries.revoke(conn, key_id)
    if row is None:
        raise click.ClickException(f"no key {key_id}")
    click.echo(f"revoked {row['prefix']}... at {row['revoked_at'].isoformat()}")


@keys_cli.command("list")
@click.argument("email")
def keys_list(email: str) -> None:
    """List a user's keys (prefix, name, status)."""
    with db.connection() as conn:
        user = _require_user(conn, email)
        rows = key_queries.list_for_user(conn, user["id"])
    for row in rows:
        status = "revoked" if row["revoked_at"] else "active"
        click.echo(f"{row['id']}  {row['prefix']}...  {row['name']}  {status}")


@credits_cli.command("grant")
@click.argument("email")
@click.argument("amount", type=click.IntRange(min=1))
@click.option("--ref", default=None, help="Idempotency reference (default: a new uuid).")
def credits_grant(email: str, amount: int, ref: str | None) -> None:
    """Grant AMOUNT credits (ledger reason admin_grant), once per --ref."""
    with db.connection() as conn:
        user = _require_user(conn, email)
        row = credit_queries.grant(
            conn, user["id"], amount, "admin_grant", ref or str(uuid.uuid4())
        )
    state = "granted" if row["applied"] else "already granted (same ref)"
    click.echo(f"{state}; balance {row['balance']}")


@credits_cli.command("balance")
@click.argument("email")
def credits_balance(email: str) -> None:
    """Show a user's balance in credits."""
    with db.connection() as conn:
        user = _require_user(conn, email)
        click.echo(str(credit_queries.balance(conn, user["id"])))


tokens_cli = AppGroup("tokens", help="Access tokens for the embedded default.")


@credits_cli.command("sweep-orphans")
def credits_sweep_orphans() -> None:
    """Refund profile-lookup charges left unsettled by a request that died (older than
    FETCH_DEADLINE + LOOKUP_ORPHAN_GRACE seconds), exactly once. The workers run this every
    few seconds; without workers, run it from cron every minute."""
    with db.connection() as conn:
        refunded = profiles.sweep_orphans(conn, current_app.config)
    click.echo(f"refunded {refunded} orphaned charges")


@tokens_cli.command("mint")
@click.argument("email")
@click.option(
    "--ttl",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    help="Lifetime in seconds.",
)
def tokens_mint(email: str, ttl: int) -> None:
    """Print an access token for a local user (``Authorization: Bearer ...``), signed with the
    local JWT secret. Production tokens come from Supabase Auth (/v1/auth/login)."""
    with db.connection() as conn:
        user = _require_user(conn, email)
    click.echo(mint_access_token(str(user["id"]), user["email"], ttl))


QUICKSTART_KEY_DAYS = 30


@click.command("quickstart")
@with_appcontext
@click.option("--email", default="demo@example.com", show_default=True)
@click.option("--port", default=8000, show_default=True)
def quickstart(email: str, port: int) -> None:
    """Ensure a demo user exists, replace its demo key (named ``quickstart``, expiring after
    QUICKSTART_KEY_DAYS days) with a fresh one and print a curl line to try. Restarts therefore
    never pile up keys: earlier demo keys are revoked."""
    with db.connection() as conn:
        user = user_queries.find_by_email(conn, email)
    if user is None:
        user = create_user(email)
    try:
        key = mint_key(user["id"], "quickstart", QUICKSTART_KEY_DAYS, replace=True)
    except KeyLimitReached as exc:
        raise click.ClickException(f"{email}: {_limit_message(exc)}") from None
    click.echo(f"Demo user: {email}")
    click.echo(f"API key (shown once; replaces earlier demo keys): {key}")
    click.echo("Try it:")
    click.echo(f"  curl -s -H 'x-api-key: {key}' http://127.0.0.1:{port}/v1/credits/balance")


def init_app(app: Flask) -> None:
    """Attach the command groups to ``app.cli``."""
    for group in (db_cli, users_cli, keys_cli, credits_cli, tokens_cli):
        app.cli.add_command(group)
    app.cli.add_command(quickstart)
    from app.jobs.worker import worker_command  # batch-job worker (procrastinate)

    app.cli.add_command(worker_command)
