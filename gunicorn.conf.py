"""gunicorn settings, read automatically from the working directory (``./scripts/serve`` and
``gunicorn wsgi:app`` alike): request limits sized to the OpenAPI document, and a refusal to run
several worker processes that would each count rate limits in their own memory
(``app.serving``). Workers: ``WEB_CONCURRENCY`` (gunicorn's own variable, default 1)."""

from app.config import load_config
from app.serving import GUNICORN_LIMITS, UnsharedLimits, check_process_model

limit_request_line = GUNICORN_LIMITS["limit_request_line"]
limit_request_field_size = GUNICORN_LIMITS["limit_request_field_size"]
limit_request_fields = GUNICORN_LIMITS["limit_request_fields"]
# No runtime control socket: its default path is shared by every gunicorn of the same user.
control_socket_disable = True


def on_starting(server):
    """Stop before any worker starts when the limiter storage cannot be shared."""
    try:
        check_process_model(server.cfg.workers, load_config()["RATELIMIT_STORAGE_URI"])
    except UnsharedLimits as exc:
        server.log.error("%s", exc)
        raise SystemExit(3) from None
