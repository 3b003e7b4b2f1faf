"""FAKE Stripe API: a local stand-in for ``https://api.stripe.com`` in tests. NOT Stripe.

A real HTTP server on 127.0.0.1 that speaks the parts of Stripe's wire format the app uses, so
stripe-python can be pointed at it (``StripeClient(base_addresses={"api": fake.base_url})``):

- form-encoded request bodies with Stripe's bracket notation (``metadata[user_id]=...``,
  ``line_items[0][price]=...``), ``Authorization: Bearer <secret key>``;
- ``POST /v1/customers``, ``GET /v1/customers/<id>``, ``POST /v1/checkout/sessions``,
  ``GET /v1/checkout/sessions/<id>``, ``POST /v1/billing_portal/sessions``;
- Stripe's JSON objects (``{"id": "cus_...", "object": "customer", ...}``) and error shape
  ``{"error": {"type", "code", "message", "param"}}`` with Stripe's statuses;
- ``Idempotency-Key``: a repeat with the same key and parameters replays the first response
  (header ``Idempotent-Replayed: true``) and creates nothing; the same key with other parameters
  is 400 ``idempotency_error``; concurrent requests with one key are answered one after another.

Everything is recorded for assertions: ``requests`` (method, path, params, idempotency key),
``customers``, ``checkout_sessions``, ``portal_sessions``. ``fail_next(path, ...)`` makes the next
request to ``path`` fail with a Stripe error; ``customer_delay`` slows Customer creation to widen
race windows.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

FAKE_SECRET_KEY = "sk_test_fake_stripe_api_key"


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    replayed: bool = False


@dataclass
class _Price:
    id: str
    unit_amount: int
    currency: str = "usd"


class StripeError(Exception):
    """An error response in Stripe's shape."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "code": code, "message": message}}
        if param:
            self.body["error"]["param"] = param


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding back to nested dicts and lists: ``a[b][0][c]=v``."""
    result: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", raw_key)
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(result)


def _lists(node: Any) -> Any:
    """Dicts keyed 0..n-1 (from ``[0]``, ``[1]``) become lists."""
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        fake = self.server.fake
        path = self.path.split("?", 1)[0]
        params = decode_form(body if method == "POST" else self.path.partition("?")[2])
        key = self.headers.get("Idempotency-Key")
        auth = self.headers.get("Authorization", "")
        if auth != f"Bearer {fake.api_key}":
            status, payload, replayed = (
                401,
                StripeError(
                    401, "invalid_request_error", "Invalid API Key provided.", "api_key_invalid"
                ).body,
                False,
            )
        else:
            status, payload, replayed = fake.dispatch(method, path, params, key)
        with fake.lock:
            fake.requests.append(RecordedRequest(method, path, params, key, replayed))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_fake_{secrets.token_hex(6)}")
        if key:
            self.send_header("Idempotency-Key", key)
        if replayed:
            self.send_header("Idempotent-Replayed", "true")
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeStripeAPI


@dataclass
class FakeStripeAPI:
    """FAKE of Stripe's API on ``base_url`` (http://127.0.0.1:<port>). See the module doc."""

    api_key: str = FAKE_SECRET_KEY
    prices: dict[str, _Price] = field(default_factory=dict)
    customer_delay: float = 0.0
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkout_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    portal_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._idempotency: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._key_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._failures: dict[str, list[StripeError]] = defaultdict(list)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeStripeAPI:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeStripeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- test controls ---------------------------------------------------------------------

    def add_price(self, price_id: str, unit_amount: int, currency: str = "usd") -> None:
        self.prices[price_id] = _Price(price_id, unit_amount, currency)

    def reset(self) -> None:
        """Forget every object, request, idempotency key and queued failure (prices stay)."""
        with self.lock:
            self.customers.clear()
            self.checkout_sessions.clear()
            self.portal_sessions.clear()
            self.requests.clear()
            self._idempotency.clear()
            self._failures.clear()
        self.customer_delay = 0.0

    def fail_next(
        self,
        path: str,
        status: int = 500,
        type_: str = "api_error",
        code: str | None = None,
        message: str = "Fake Stripe failure.",
    ) -> None:
        """The next request to ``path`` answers ``status`` with a Stripe error body."""
        with self.lock:
            self._failures[path].append(StripeError(status, type_, message, code))

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # -- dispatch --------------------------------------------------------------------------

    def dispatch(
        self, method: str, path: str, params: dict[str, Any], key: str | None
    ) -> tuple[int, dict[str, Any], bool]:
        with self.lock:
            queued = self._failures.get(path)
            failure = queued.pop(0) if queued else None
        if failure is not None:
            return failure.status, failure.body, False
        if method != "POST" or not key:
            return (*self._route(method, path, params), False)
        fingerprint = json.dumps([method, path, params], sort_keys=True)
        with self._key_locks[key]:
            with self.lock:
                seen = self._idempotency.get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    return (
                        400,
                        StripeError(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                        ).body,
                        False,
                    )
                return seen[1], seen[2], True
            status, payload = self._route(method, path, params)
            if status < 500:
                with self.lock:
                    self._idempotency[key] = (fingerprint, status, payload)
            return status, payload, False

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict]:
        try:
            if method == "POST" and path == "/v1/customers":
                return 200, self._create_customer(params)
            if method == "POST" and path == "/v1/checkout/sessions":
                return 200, self._create_checkout_session(params)
            if method == "POST" and path == "/v1/billing_portal/sessions":
                return 200, self._create_portal_session(params)
            match = re.fullmatch(r"/v1/(customers|checkout/sessions)/([A-Za-z0-9_]+)", path)
            if method == "GET" and match:
                store = self.customers if match.group(1) == "customers" else self.checkout_sessions
                with self.lock:
                    obj = store.get(match.group(2))
                if obj is None:
                    raise StripeError(
                        404,
                        "invalid_request_error",
                        f"No such object: '{match.group(2)}'",
                        "resource_missing",
                    )
                return 200, obj
            raise StripeError(
                404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})."
            )
        except StripeError as err:
            return err.status, err.body

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.customer_delay:
            time.sleep(self.customer_delay)
        customer = {
            "id": f"cus_fake{secrets.token_hex(7)}",
            "object": "customer",
            "created": int(time.time()),
            "email": params.get("email"),
            "metadata": params.get("metadata", {}),
            "livemode": False,
        }
        with self.lock:
            self.customers[customer["id"]] = customer
        return customer

    def _require_customer(self, customer_id: Any, param: str) -> None:
        with self.lock:
            known = customer_id in self.customers
        if not known:
            raise StripeError(
                400,
                "invalid_request_error",
                f"No such customer: '{customer_id}'",
                "resource_missing",
                param,
            )

    def _create_checkout_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") not in {"payment", "subscription", "setup"}:
            raise StripeError(
                400,
                "invalid_request_error",
                "Missing required param: mode.",
                "parameter_missing",
                "mode",
            )
        if not params.get("success_url"):
            raise StripeError(
                400,
                "invalid_request_error",
                "Missing required param: success_url.",
                "parameter_missing",
                "success_url",
            )
        if params.get("customer"):
            self._require_customer(params["customer"], "customer")
        total, currency = 0, None
        for i, item in enumerate(params.get("line_items") or []):
            price = self.prices.get(item.get("price"))
            if price is None:
                raise StripeError(
                    400,
                    "invalid_request_error",
                    f"No such price: '{item.get('price')}'",
                    "resource_missing",
                    f"line_items[{i}][price]",
                )
            total += price.unit_amount * int(item.get("quantity", 1))
            currency = price.currency
        session_id = f"cs_test_fake{secrets.token_hex(12)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": total,
            "currency": currency,
            "customer": params.get("customer"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "payment_intent": None,
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "livemode": False,
            "created": int(time.time()),
        }
        with self.lock:
            self.checkout_sessions[session_id] = session
        return session

    def _create_portal_session(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require_customer(params.get("customer"), "customer")
        portal_id = f"bps_fake{secrets.token_hex(8)}"
        session = {
            "id": portal_id,
            "object": "billing_portal.session",
            "customer": params["customer"],
            "return_url": params.get("return_url"),
            "url": f"https://billing.stripe.com/p/session/test_{portal_id}",
            "livemode": False,
            "created": int(time.time()),
        }
        with self.lock:
            self.portal_sessions[portal_id] = session
        return session
