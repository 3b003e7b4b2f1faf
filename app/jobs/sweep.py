"""The orphaned-charge sweep as a periodic task of the queue workers.

A profile lookup is charged before its page is fetched; if its process dies mid-fetch (SIGKILL,
OOM, a deploy, a lost node) the charge stays ``pending`` in ``public.creator_lookups``. Every
``SWEEP_EVERY`` seconds one worker (procrastinate defers each tick of a periodic task once,
however many workers run) refunds every lookup charge older than ``FETCH_DEADLINE`` +
``LOOKUP_ORPHAN_GRACE`` that is still unsettled, exactly once. Deployments without workers run
``flask --app wsgi credits sweep-orphans`` from cron instead.
"""

from __future__ import annotations

import logging

from app import logs, profiles
from app.jobs import tasks
from app.queries import jobs as queries

log = logging.getLogger(__name__)

#: seconds between two sweeps (the 6th cron field is seconds)
SWEEP_EVERY = 15
SWEEP_TASK = "credits.sweep_orphans"
logs.QUIET_TASKS.add(SWEEP_TASK)  # a tick every 15 s: only refunds and failures are news


@tasks.queue.periodic(cron=f"* * * * * */{SWEEP_EVERY}", periodic_id="orphaned-lookups")
@tasks.queue.task(name=SWEEP_TASK, queue=queries.QUEUE, priority=queries.WEBHOOK_PRIORITY)
def sweep_orphaned_charges(timestamp: int) -> int:
    """Refund orphaned lookup charges (see the module docstring). ``timestamp``: the tick, unix
    seconds (given by procrastinate). Returns how many charges were refunded."""
    return sweep(tasks.runtime())


def sweep(rt: tasks.Runtime) -> int:
    """The body of ``sweep_orphaned_charges``: one sweep on the worker's pool."""
    with rt.pool.connection() as conn:
        refunded = profiles.sweep_orphans(conn, rt.config)
    if refunded:
        log.warning("refunded %d orphaned lookup charges", refunded)
    return refunded
