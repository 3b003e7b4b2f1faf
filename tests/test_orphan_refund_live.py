"""A lookup whose gunicorn worker is SIGKILLed mid-fetch gets its credit back (issue 8, part 1).

Real processes on the test database: gunicorn serving ``wsgi:app`` (one sync worker), a queue
worker (``flask --app wsgi worker``) running the periodic orphan sweep, and a local page that
answers slowly (tests/fixture_server.py ``/sleep/<s>``). Settings are short for the test:
``FETCH_DEADLINE`` 3 s and ``LOOKUP_ORPHAN_GRACE`` 1 s, so a charge is an orphan after 4 s and is
refunded by the next sweep (every ``SWEEP_EVERY`` s): the README's bound.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from app.jobs.sweep import SWEEP_EVERY
from tests.conftest import balance_of, ledger_sum, make_funded_key
from tests.fixture_server import FixtureServer
from tests.test_jobs_workers import ROOT, Workers, wait_for

SETTINGS = {
    "FETCH_ALLOW_LOOPBACK": "true",  # TEST-ONLY: the slow page is on 127.0.0.1
    "FETCH_DEADLINE": "3",
    "FETCH_READ_TIMEOUT": "3",
    "LOOKUP_ORPHAN_GRACE": "1",
    "LOG_LEVEL": "WARNING",
}
ORPHAN_AFTER = 3 + 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def gunicorn(database_url, tmp_path):
    port = _free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--timeout",
            "60",
            "--bind",
            f"127.0.0.1:{port}",
            "wsgi:app",
        ],
        cwd=ROOT,
        env={**os.environ, **SETTINGS, "DATABASE_URL": database_url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(ready, 30, "gunicorn to answer")
        yield proc, base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def sweeping_worker(database_url, tmp_path):
    workers = Workers(database_url, tmp_path)
    workers.start(1, **SETTINGS)
    try:
        yield workers
    finally:
        workers.stop()


def test_sigkilled_lookup_is_refunded_by_the_workers_sweep_and_a_retry_pays_once(
    gunicorn, sweeping_worker, db
):
    proc, base = gunicorn
    user, key = make_funded_key(db, 5)
    headers = {"x-api-key": key, "Idempotency-Key": "killed-once"}
    with FixtureServer() as pages:
        slow = pages.url("/sleep/30")
        outcome: dict = {}

        def call() -> None:
            try:
                outcome["response"] = requests.get(
                    f"{base}/v1/creators/profile",
                    params={"url": slow},
                    headers=headers,
                    timeout=20,
                )
            except requests.RequestException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=call)
        thread.start()
        pending = wait_for(
            lambda: db.execute(
                "select request_id, created_at from public.creator_lookups"
                " where user_id = %s and status = 'pending'",
                (user,),
            ).fetchone(),
            10,
            "the lookup to be charged",
        )
        charged_at = time.monotonic()
        (worker_pid,) = _children(proc.pid)
        os.kill(worker_pid, signal.SIGKILL)  # mid-fetch: the page answers after 30 s
        thread.join(timeout=20)
        assert "error" in outcome, outcome  # the connection died with the worker
        assert balance_of(db, user) == 4

        wait_for(
            lambda: balance_of(db, user) == 5,
            ORPHAN_AFTER + SWEEP_EVERY + 5,
            "the orphaned charge to be refunded",
            sweeping_worker,
        )
        refunded_after = time.monotonic() - charged_at
        request_id = pending["request_id"]
        rows = db.execute(
            "select reason, delta, ref from public.credit_ledger"
            " where user_id = %s and reason in ('usage', 'refund') order by id",
            (user,),
        ).fetchall()
        assert [(r["reason"], r["delta"], r["ref"]) for r in rows] == [
            ("usage", -1, request_id),
            ("refund", 1, request_id),
        ]
        assert ledger_sum(db, user) == balance_of(db, user) == 5
        assert refunded_after <= ORPHAN_AFTER + SWEEP_EVERY + 5

        # The retry with the same Idempotency-Key runs (the dead claim was released with the
        # refund) and pays once for its one result.
        retry = requests.get(
            f"{base}/v1/creators/profile",
            params={"url": pages.url("/personal/kikobeats.com")},
            headers=headers,
            timeout=20,
        )
    assert retry.status_code == 200, retry.text
    assert retry.json()["meta"]["credits_charged"] == 1
    assert ledger_sum(db, user) == balance_of(db, user) == 4
    status = db.execute(
        "select status from public.creator_lookups where user_id = %s order by id", (user,)
    ).fetchall()
    assert [r["status"] for r in status] == ["refunded", "succeeded"]
