"""Per-host politeness for the API hosts a lookup's sources call (``HostGate`` of the chain).

The job worker already spaces and backs off the host of each item's URL. A source chain also
calls API hosts (``public.api.bsky.app``, ``www.googleapis.com``...); this gate gives them the
same treatment across all workers, through the same ``private.host_politeness`` rows: starts
spaced ``JOBS_HOST_SPACING_MS`` apart, and after a 429 the host is backed off for its
``Retry-After`` (or ``JOBS_RETRY_AFTER_DEFAULT``, at most ``JOBS_RETRY_AFTER_MAX``) seconds,
during which the source is skipped (``rate_limited``) and the chain goes on to the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg_pool import ConnectionPool

from app.queries import jobs as queries


class PoliteHosts:
    """A ``HostGate`` backed by ``private.host_politeness`` (shared by every worker)."""

    def __init__(self, pool: ConnectionPool, config: Mapping[str, Any]) -> None:
        self.pool = pool
        self.spacing_ms = int(config["JOBS_HOST_SPACING_MS"])
        self.default_wait = float(config["JOBS_RETRY_AFTER_DEFAULT"])
        self.max_wait = float(config["JOBS_RETRY_AFTER_MAX"])

    def start(self, host: str) -> float | None:
        """Seconds to wait before requesting ``host``; None while it is backed off."""
        with self.pool.connection() as conn:
            return queries.take_host_slot(conn, host, self.spacing_ms)

    def back_off(self, host: str, seconds: float | None) -> None:
        """Back ``host`` off for ``seconds`` (its Retry-After) or the default."""
        wait = self.default_wait if seconds is None else float(seconds)
        with self.pool.connection() as conn:
            queries.block_host(conn, host, min(max(wait, 0.1), self.max_wait))
