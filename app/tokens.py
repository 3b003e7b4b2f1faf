"""Supabase Auth access tokens: local verification, and minting for the embedded default.

Supabase signs access tokens either with the project's shared JWT secret (HS256) or with
asymmetric keys published at ``{SUPABASE_URL}/auth/v1/.well-known/jwks.json`` (RS256/ES256).
``verify_access_token`` accepts both, checks ``exp``, ``aud = "authenticated"`` and
``role = "authenticated"``, and returns the claims. The JWKS is fetched once and cached
(PyJWT's ``PyJWKClient``, 5 minutes; an unknown ``kid`` triggers a refetch).

The embedded default has no Supabase: its HS256 secret is ``SUPABASE_JWT_SECRET`` or, if that
is empty, a random one kept in ``<EMBEDDED_PG_DIR>/../jwt_secret``; ``flask --app wsgi tokens
mint EMAIL`` signs a token for a local user with it.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from flask import Flask, current_app

from app.errors import InvalidToken

ASYMMETRIC_ALGORITHMS = ["RS256", "ES256", "EdDSA"]
AUDIENCE = "authenticated"
_JWKS_PATH = "/auth/v1/.well-known/jwks.json"


def init_app(app: Flask) -> None:
    """Fix the HS256 secret (a persisted local one for the embedded default) and the JWKS
    client (only when ``SUPABASE_URL`` is set)."""
    if not app.config["SUPABASE_JWT_SECRET"] and not app.config["SUPABASE_URL"]:
        app.config["SUPABASE_JWT_SECRET"] = _local_secret(Path(app.config["EMBEDDED_PG_DIR"]))
    app.extensions["jwks_client"] = (
        jwt.PyJWKClient(
            app.config["SUPABASE_URL"].rstrip("/") + _JWKS_PATH, lifespan=300, timeout=5
        )
        if app.config["SUPABASE_URL"]
        else None
    )


def _local_secret(data_dir: Path) -> str:
    path = data_dir.resolve().parent / "jwt_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def verify_access_token(token: str) -> dict[str, Any]:
    """Verify a Supabase access token and return its claims (``sub`` is the user id).

    Raises 401 ``invalid_token`` for a bad signature, an unknown key, an expired token, a wrong
    audience, a role other than ``authenticated`` or a missing ``sub``.
    """
    try:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm == "HS256":
            secret = current_app.config["SUPABASE_JWT_SECRET"]
            if not secret:
                raise InvalidToken()
            key: Any = secret
            algorithms = ["HS256"]
        elif algorithm in ASYMMETRIC_ALGORITHMS and current_app.extensions.get("jwks_client"):
            signing_key = current_app.extensions["jwks_client"].get_signing_key_from_jwt(token)
            # The header's alg must be the key's: an ES256 header on an RSA key's kid would
            # otherwise reach PyJWT as a TypeError (a 500), not a refused token.
            if signing_key.algorithm_name != algorithm:
                raise InvalidToken()
            key = signing_key.key
            algorithms = [algorithm]
        else:
            raise InvalidToken()
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud"]},
            leeway=10,
        )
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken() from exc
    if claims.get("role") != "authenticated":
        raise InvalidToken()
    return claims


def mint_access_token(user_id: str, email: str | None = None, ttl: int = 3600) -> str:
    """An HS256 access token shaped like Supabase's, for ``user_id``, valid ``ttl`` seconds.

    For the embedded default and tests; production tokens come from Supabase Auth.
    """
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "aud": AUDIENCE,
        "role": "authenticated",
        "email": email,
        "iat": now,
        "exp": now + ttl,
        "iss": "creatorscrape-local",
        "aal": "aal1",
        "session_id": secrets.token_hex(16),
    }
    return jwt.encode(claims, current_app.config["SUPABASE_JWT_SECRET"], algorithm="HS256")
