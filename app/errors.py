"""The API's error hierarchy and the only error handlers.

Every error leaves the API in one envelope::

    {"error": {"code": "insufficient_credits", "message": "...",
               "details": {...}, "request_id": "..."}}

``code`` is stable snake_case and documented in the OpenAPI document; clients branch on it,
never on ``message``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Base class: an error with an HTTP status, a stable code and optional details.

    Subclasses set ``status`` and ``code``; raise them anywhere below a view.
    ``headers`` are added to the response (e.g. ``Retry-After``).
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_message: ClassVar[str] = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(ApiError):
    """400 ``validation_error``: the request's parameters or body are invalid.

    ``details.fields`` lists ``{"field", "message"}`` per bad field.
    """

    status = 400
    code = "validation_error"
    default_message = "The request has invalid fields."


class InvalidApiKey(ApiError):
    """401 ``invalid_api_key``: missing, malformed, unknown, revoked or expired key.

    All cases share one public message, so a caller cannot probe which keys exist.
    """

    status = 401
    code = "invalid_api_key"
    default_message = "The API key is missing, invalid, revoked or expired."


class InvalidToken(ApiError):
    """401 ``invalid_token``: missing or invalid ``Authorization: Bearer`` access token."""

    status = 401
    code = "invalid_token"
    default_message = "The bearer token is missing, invalid or expired."


class InsufficientCredits(ApiError):
    """402 ``insufficient_credits``: ``details`` carries ``required`` and ``balance`` (credits)."""

    status = 402
    code = "insufficient_credits"
    default_message = "Not enough credits for this call."


class Forbidden(ApiError):
    """403 ``forbidden``: authenticated, but not allowed to do this."""

    status = 403
    code = "forbidden"
    default_message = "This API key or user is not allowed to do that."


class AccountSuspended(ApiError):
    """403 ``account_suspended``: the account's keys are suspended (e.g. a payment dispute)."""

    status = 403
    code = "account_suspended"
    default_message = "This account is suspended. Contact support."


class NotFound(ApiError):
    """404 ``not_found``: no such route or resource (or not yours)."""

    status = 404
    code = "not_found"
    default_message = "Not found."


class MethodNotAllowed(ApiError):
    """405 ``method_not_allowed``."""

    status = 405
    code = "method_not_allowed"
    default_message = "This method is not allowed on this URL."


class Conflict(ApiError):
    """409 ``conflict``: the request conflicts with the current state."""

    status = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class IdempotencyConflict(Conflict):
    """409 ``idempotency_conflict``: the Idempotency-Key was used for a different request."""

    code = "idempotency_conflict"
    default_message = "This Idempotency-Key was already used for a different request."


class PayloadTooLarge(ApiError):
    """413 ``payload_too_large``: the request body exceeds ``MAX_CONTENT_LENGTH`` bytes."""

    status = 413
    code = "payload_too_large"
    default_message = "The request body is too large."


class RateLimited(ApiError):
    """429 ``rate_limited``: sent with ``Retry-After`` (seconds) and ``X-RateLimit-*`` headers."""

    status = 429
    code = "rate_limited"
    default_message = "Too many requests; slow down."


class InternalError(ApiError):
    """500 ``internal_error``: an unexpected failure; the body never carries a stack trace."""

    status = 500
    code = "internal_error"
    default_message = "Something went wrong on our side. Quote the request_id if you contact us."


class Unavailable(ApiError):
    """503 ``unavailable``: a dependency (database, auth, billing) is unreachable or unset."""

    status = 503
    code = "unavailable"
    default_message = "The service is temporarily unavailable."


class InvalidCredentials(ApiError):
    """401 ``invalid_credentials``: wrong e-mail/password, or an invalid or used refresh token."""

    status = 401
    code = "invalid_credentials"
    default_message = "Invalid login credentials."


class EmailNotConfirmed(ApiError):
    """403 ``email_not_confirmed``: the account exists but its e-mail is not confirmed yet."""

    status = 403
    code = "email_not_confirmed"
    default_message = "Confirm your e-mail address first (see the link we sent you)."


class EmailTaken(Conflict):
    """409 ``email_taken``: a user with this e-mail already exists."""

    code = "email_taken"
    default_message = "A user with this e-mail address already exists."


class KeyLimitReached(Conflict):
    """409 ``key_limit_reached``: the user holds the maximum of active API keys.

    ``details``: ``limit`` and ``active`` (keys).
    """

    code = "key_limit_reached"
    default_message = "You have the maximum number of active API keys; revoke one first."


class KeyNotActive(Conflict):
    """409 ``key_not_active``: the key is revoked, expired or already being rotated."""

    code = "key_not_active"
    default_message = "This API key is revoked, expired or already being rotated."


class AuthUnavailable(Unavailable):
    """503 ``auth_unavailable``: Supabase Auth is not configured here or not reachable."""

    code = "auth_unavailable"
    default_message = "Sign-up and login are not available right now."


class InvalidSignature(ApiError):
    """400 ``invalid_signature``: a webhook's ``Stripe-Signature`` is missing, wrong or stale."""

    status = 400
    code = "invalid_signature"
    default_message = "The Stripe-Signature header does not match the body, or is too old."


class PackNotFound(NotFound):
    """404 ``pack_not_found``: no active credit pack with this id (``details.pack_id``)."""

    code = "pack_not_found"
    default_message = "No active credit pack with this id; see GET /v1/billing/packs."


class PaymentProviderError(ApiError):
    """502 ``payment_provider_error``: Stripe refused or failed the call; nothing was charged."""

    status = 502
    code = "payment_provider_error"
    default_message = "The payment provider could not process the request; try again later."


class BillingUnavailable(Unavailable):
    """503 ``billing_unavailable``: Stripe is not configured on this server."""

    code = "billing_unavailable"
    default_message = "Billing is not available on this server."


_HTTP_ERRORS: dict[int, type[ApiError]] = {
    400: ApiError,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    429: RateLimited,
}


def error_body(err: ApiError) -> dict[str, Any]:
    """The envelope for ``err``, stamped with the current request id."""
    return {
        "error": {
            "code": err.code,
            "message": err.message,
            "details": err.details,
            "request_id": g.get("request_id"),
        }
    }


def _respond(err: ApiError):
    response = jsonify(error_body(err))
    response.status_code = err.status
    for name, value in err.headers.items():
        response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    """Register the only error handlers: ApiError, werkzeug HTTP errors, anything else (500)."""

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return _respond(err)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        cls = _HTTP_ERRORS.get(err.code or 500, ApiError)
        response = _respond(cls())
        response.status_code = err.code or 500
        for name, value in err.get_headers():  # e.g. Allow on 405 (RFC 9110 section 15.5.6)
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        return _respond(InternalError())
