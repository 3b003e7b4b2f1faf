"""The log filter that keeps the periodic orphan sweep's ticks out of the console."""

from __future__ import annotations

import logging

import pytest

from app.jobs.sweep import SWEEP_TASK
from app.logs import QUIET_TASKS, QuietTicksFilter


def record(name: str, level: int, **extra) -> logging.LogRecord:
    """A record shaped like procrastinate's (its context goes in ``extra``)."""
    return logging.makeLogRecord({"name": name, "levelno": level, "msg": "m", **extra})


def test_the_sweep_task_is_registered_as_quiet():
    assert SWEEP_TASK in QUIET_TASKS


@pytest.mark.parametrize(
    "rec",
    [
        record("procrastinate.worker.vm-1", logging.INFO, job={"task_name": SWEEP_TASK}),
        record("procrastinate.periodic", logging.INFO, task_name=SWEEP_TASK, job={}),
        record("procrastinate.periodic", logging.INFO, task_name=SWEEP_TASK),
    ],
)
def test_routine_lines_about_the_sweep_are_dropped(rec):
    assert QuietTicksFilter().filter(rec) is False


@pytest.mark.parametrize(
    "rec",
    [
        record("procrastinate.worker.vm-1", logging.WARNING, job={"task_name": SWEEP_TASK}),
        record("procrastinate.worker.vm-1", logging.INFO, job={"task_name": "jobs.scrape_item"}),
        record("procrastinate.worker.vm-1", logging.INFO),
        record("app.jobs.sweep", logging.INFO, job={"task_name": SWEEP_TASK}),
    ],
)
def test_everything_else_still_logs(rec):
    assert QuietTicksFilter().filter(rec) is True
