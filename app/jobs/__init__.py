"""Batch jobs: many creator lookups per request, run by horizontally scalable queue workers.

- ``queue``: the procrastinate ``App`` (tasks registered at import; opened only by a worker).
- ``tasks``: ``jobs.scrape_item`` (one per URL) and ``jobs.deliver_webhook`` (one per finished
  job with a ``webhook_url``), and the retry strategies.
- ``worker``: ``flask --app wsgi worker``: the worker process with stalled-job recovery.
- ``signing``: the ``CreatorScrape-Signature`` webhook header (Stripe's scheme).
- ``summary``: the job summary returned by ``GET /v1/jobs/get`` and sent to webhooks.

The API side (``app/v1/jobs.py``) never talks to procrastinate's Python API: it defers tasks with
SQL in the transaction that reserves the credits (``app/queries/jobs.py``).
"""
