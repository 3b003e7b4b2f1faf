"""Supabase access-token verification (app.tokens): HS256 with the project's JWT secret, RS256
and ES256 with keys from the project's JWKS endpoint, here served by a local FAKE of Supabase
Auth's ``/auth/v1/.well-known/jwks.json`` on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from app.errors import InvalidToken
from app.tokens import mint_access_token, verify_access_token
from tests.conftest import app_for_tests, bearer, make_user

SECRET = "test-jwt-secret-" + "s" * 40
JWKS_PATH = "/auth/v1/.well-known/jwks.json"


class FakeSupabaseJwks:
    """FAKE of Supabase Auth's JWKS endpoint (``GET /auth/v1/.well-known/jwks.json``): publishes
    the public halves of a generated RSA key (kid ``rsa-1``, RS256) and P-256 key (kid ``ec-1``,
    ES256) in Supabase's shape, and counts fetches. Not Supabase: a test double on 127.0.0.1."""

    def __init__(self) -> None:
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec_key = ec.generate_private_key(ec.SECP256R1())
        self.fetches = 0
        self.keys = [
            {**RSAAlgorithm.to_jwk(self.rsa_key.public_key(), as_dict=True), "kid": "rsa-1",
             "alg": "RS256", "use": "sig", "key_ops": ["verify"]},
            {**ECAlgorithm.to_jwk(self.ec_key.public_key(), as_dict=True), "kid": "ec-1",
             "alg": "ES256", "use": "sig", "key_ops": ["verify"]},
        ]  # fmt: skip
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                fake.fetches += 1
                body = json.dumps({"keys": fake.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks() -> Iterator[FakeSupabaseJwks]:
    fake = FakeSupabaseJwks()
    yield fake
    fake.close()


@pytest.fixture
def jwks_app(database_url, jwks):
    """An app configured like a Supabase project: URL (for the JWKS) and JWT secret (HS256)."""
    with app_for_tests(
        database_url, DB_POOL_MIN_SIZE=0, SUPABASE_URL=jwks.url, SUPABASE_JWT_SECRET=SECRET
    ) as flask_app:
        yield flask_app


def claims(**overrides) -> dict:
    now = int(time.time())
    base = {
        "sub": str(uuid.uuid4()),
        "aud": "authenticated",
        "role": "authenticated",
        "email": "ann@example.com",
        "iat": now,
        "exp": now + 600,
        "session_id": str(uuid.uuid4()),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs256(payload: dict, secret: str = SECRET, **headers) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def verify(flask_app, token: str) -> dict:
    with flask_app.app_context():
        return verify_access_token(token)


def refused(flask_app, token: str) -> bool:
    try:
        verify(flask_app, token)
    except InvalidToken:
        return True
    return False


# -- HS256 -----------------------------------------------------------------------------------------


def test_hs256_valid_token_returns_its_claims(jwks_app):
    payload = claims()
    result = verify(jwks_app, hs256(payload))
    assert result["sub"] == payload["sub"]
    assert (result["aud"], result["role"], result["email"]) == (
        "authenticated",
        "authenticated",
        "ann@example.com",
    )


@pytest.mark.parametrize(
    ("label", "payload"),
    [
        ("expired", claims(exp=int(time.time()) - 3600)),
        ("expired beyond the 10 s leeway", claims(exp=int(time.time()) - 30)),
        ("wrong audience", claims(aud="anon")),
        ("audience list without authenticated", claims(aud=["other"])),
        ("missing audience", claims(aud=None)),
        ("anon role", claims(role="anon")),
        ("service_role", claims(role="service_role")),
        ("missing role", claims(role=None)),
        ("missing sub", claims(sub=None)),
        ("non-string sub", claims(sub=12345)),
        ("missing exp", claims(exp=None)),
    ],
)
def test_hs256_claim_checks(jwks_app, label, payload):
    assert refused(jwks_app, hs256(payload)), label


def test_exp_within_leeway_is_accepted(jwks_app):
    payload = claims(exp=int(time.time()) - 3)
    assert verify(jwks_app, hs256(payload))["sub"] == payload["sub"]


def test_hs256_bad_signature_is_refused(jwks_app):
    assert refused(jwks_app, hs256(claims(), secret="another-secret-" + "x" * 40))
    header, _payload, signature = hs256(claims()).split(".")
    forged_payload = jwt.utils.base64url_encode(
        json.dumps(claims(sub=str(uuid.uuid4()))).encode()
    ).decode()
    assert refused(jwks_app, f"{header}.{forged_payload}.{signature}")


def test_alg_none_is_refused(jwks_app):
    unsigned = jwt.encode(claims(), None, algorithm="none")
    assert unsigned.endswith(".")
    assert refused(jwks_app, unsigned)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "ü.ü.ü"])
def test_malformed_tokens_are_refused(jwks_app, token):
    assert refused(jwks_app, token)


def test_hs256_signed_with_the_public_rsa_key_is_refused(jwks_app, jwks):
    """Algorithm confusion: an HS256 token 'signed' with the published RSA public key."""
    pem = jwks.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # PyJWT refuses PEM keys as HMAC secrets, so the signature is built by hand.
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode())
    body = jwt.utils.base64url_encode(json.dumps(claims()).encode())
    signature = jwt.utils.base64url_encode(
        hmac.new(pem, header + b"." + body, hashlib.sha256).digest()
    )
    assert refused(jwks_app, (header + b"." + body + b"." + signature).decode())


def test_minted_local_token_verifies_with_supabase_shaped_claims(jwks_app):
    user_id = str(uuid.uuid4())
    with jwks_app.app_context():
        token = mint_access_token(user_id, "ann@example.com", ttl=120)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    result = verify(jwks_app, token)
    assert (result["sub"], result["aud"], result["role"]) == (
        user_id,
        "authenticated",
        "authenticated",
    )
    assert result["exp"] - result["iat"] == 120
    with jwks_app.app_context():
        expired = mint_access_token(user_id, None, ttl=-60)
    assert refused(jwks_app, expired)


# -- asymmetric keys from the JWKS -----------------------------------------------------------------


def rs256(fake: FakeSupabaseJwks, payload: dict, kid: str = "rsa-1") -> str:
    return jwt.encode(payload, fake.rsa_key, algorithm="RS256", headers={"kid": kid})


def es256(fake: FakeSupabaseJwks, payload: dict, kid: str = "ec-1") -> str:
    return jwt.encode(payload, fake.ec_key, algorithm="ES256", headers={"kid": kid})


def test_rs256_and_es256_verify_with_one_cached_jwks_fetch(jwks_app, jwks):
    assert jwks.fetches == 0
    first = claims()
    assert verify(jwks_app, rs256(jwks, first))["sub"] == first["sub"]
    assert jwks.fetches == 1
    second = claims()
    assert verify(jwks_app, es256(jwks, second))["sub"] == second["sub"]
    for _ in range(5):
        verify(jwks_app, rs256(jwks, claims()))
    assert jwks.fetches == 1  # the JWK set is cached (5 minutes)


def test_asymmetric_tokens_still_check_claims(jwks_app, jwks):
    assert refused(jwks_app, rs256(jwks, claims(exp=int(time.time()) - 3600)))
    assert refused(jwks_app, es256(jwks, claims(aud="anon")))
    assert refused(jwks_app, rs256(jwks, claims(role="service_role")))
    assert refused(jwks_app, es256(jwks, claims(sub=None)))


def test_unknown_kid_is_refused_without_hammering_the_jwks(jwks_app, jwks):
    assert verify(jwks_app, rs256(jwks, claims()))  # initial fetch
    assert jwks.fetches == 1
    for i in range(5):
        assert refused(jwks_app, rs256(jwks, claims(), kid=f"unknown-{i}"))
    # PyJWKClient refetches for an unknown kid at most once per 30 s cool-down.
    assert jwks.fetches == 1


def test_token_signed_by_a_key_not_in_the_jwks_is_refused(jwks_app, jwks):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), stranger, algorithm="RS256", headers={"kid": "rsa-1"})
    assert refused(jwks_app, token)


def test_header_alg_that_does_not_match_the_jwk_is_refused(jwks_app, jwks):
    """An ES256 header pointing at the RSA key's kid (and vice versa) is a clean 401."""
    assert refused(jwks_app, es256(jwks, claims(), kid="rsa-1"))
    assert refused(jwks_app, rs256(jwks, claims(), kid="ec-1"))


def test_asymmetric_token_without_supabase_url_is_refused(app, jwks):
    """The default test app has no SUPABASE_URL, hence no JWKS: only HS256 is accepted."""
    assert app.extensions["jwks_client"] is None
    assert refused(app, rs256(jwks, claims()))
    assert jwks.fetches == 0


def test_unreachable_jwks_is_refused_not_500(database_url, jwks):
    jwks.close()
    with app_for_tests(
        database_url, DB_POOL_MIN_SIZE=0, SUPABASE_URL=jwks.url, SUPABASE_JWT_SECRET=SECRET
    ) as flask_app:
        assert refused(flask_app, rs256(jwks, claims()))


# -- over HTTP -------------------------------------------------------------------------------------


def test_dashboard_endpoint_accepts_rs256_and_hs256_bearers(jwks_app, jwks, db):
    user_id = make_user(db)
    client = jwks_app.test_client()
    for token in (rs256(jwks, claims(sub=user_id)), hs256(claims(sub=user_id))):
        response = client.get("/v1/keys/list", headers=bearer(token))
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["data"] == []
    expired = rs256(jwks, claims(sub=user_id, exp=int(time.time()) - 3600))
    response = client.get("/v1/keys/list", headers=bearer(expired))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"


# -- the embedded default's local secret and the CLI -----------------------------------------------


def test_embedded_default_persists_a_private_local_secret(database_url, tmp_path: Path):
    config = {
        "DB_POOL_MIN_SIZE": 0,
        "EMBEDDED_PG_DIR": str(tmp_path / "postgres"),
        "SUPABASE_URL": "",
        "SUPABASE_JWT_SECRET": "",
    }
    with (
        app_for_tests(database_url, **config) as first,
        app_for_tests(database_url, **config) as second,
    ):
        secret_file = tmp_path / "jwt_secret"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        secret = secret_file.read_text().strip()
        assert len(secret) >= 48
        assert first.config["SUPABASE_JWT_SECRET"] == second.config["SUPABASE_JWT_SECRET"] == secret
        with first.app_context():
            token = mint_access_token(str(uuid.uuid4()))
        assert verify(second, token)["role"] == "authenticated"


def test_cli_tokens_mint_prints_a_token_for_a_local_user(app, db):
    user_id = make_user(db, "cli@example.com")
    result = app.test_cli_runner().invoke(args=["tokens", "mint", "cli@example.com", "--ttl", "90"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    verified = verify(app, token)
    assert (verified["sub"], verified["email"]) == (user_id, "cli@example.com")
    assert verified["exp"] - verified["iat"] == 90

    missing = app.test_cli_runner().invoke(args=["tokens", "mint", "nobody@example.com"])
    assert missing.exit_code != 0
    assert "no user with e-mail nobody@example.com" in missing.output
