-- Batch jobs: many profile lookups in one request, processed by queue workers (procrastinate).
--
-- public.jobs (one per POST /v1/jobs/create), public.job_items (one per accepted URL, with its
-- result), public.webhook_deliveries (every attempt to POST a job's summary), and
-- private.host_politeness (per-host spacing and 429 back-off shared by all workers).
-- The queue's own tables live in the "procrastinate" schema, which app/migrate.py installs from
-- the procrastinate package (not exposed through the Data API).
-- Users read their own jobs, items and deliveries (RLS); only the API and workers write.

-- ---------------------------------------------------------------------------------------------
create table public.jobs (
  id uuid primary key default gen_random_uuid(),
  seq bigint generated always as identity unique,
  user_id uuid not null references public.profiles (id) on delete cascade,
  api_key_id uuid references public.api_keys (id) on delete set null,
  status text not null default 'queued'
    check (status in ('queued', 'running', 'completed', 'failed', 'cancelled')),
  charge_ref text not null unique check (char_length(charge_ref) between 1 and 200),
  items_total integer not null check (items_total > 0),
  items_succeeded integer not null default 0 check (items_succeeded >= 0),
  items_failed integer not null default 0 check (items_failed >= 0),
  items_cancelled integer not null default 0 check (items_cancelled >= 0),
  credits_charged integer not null check (credits_charged >= 0),
  credits_refunded integer not null default 0 check (credits_refunded >= 0),
  webhook_url text check (char_length(webhook_url) <= 2048),
  webhook_secret text,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  cancelled_at timestamptz,
  finished_at timestamptz,
  check (items_succeeded + items_failed + items_cancelled <= items_total),
  check (credits_refunded <= credits_charged)
);
comment on table public.jobs is
  'Batch lookups (POST /v1/jobs/create): one credit per URL reserved up front, one refund per '
  'failed or cancelled item. credits_charged - credits_refunded = items_succeeded once finished.';
comment on column public.jobs.seq is 'Monotonic number used as the cursor of GET /v1/jobs/list.';
comment on column public.jobs.status is
  'queued (no item started), running, completed (all items final, at least one succeeded), '
  'failed (all items final, none succeeded), cancelled (POST /v1/jobs/cancel).';
comment on column public.jobs.charge_ref is
  'credit_ledger.ref of the usage row that reserved the credits (the create request id); item '
  'refunds are refund_credits(charge_ref, 1, ''<job id>:<item id>'').';
comment on column public.jobs.items_succeeded is 'Items that returned a profile (paid).';
comment on column public.jobs.items_failed is 'Items that ended with an error (refunded).';
comment on column public.jobs.items_cancelled is 'Items stopped by a cancel before they ran (refunded).';
comment on column public.jobs.credits_charged is 'Credits reserved at creation: one per accepted URL.';
comment on column public.jobs.credits_refunded is 'Credits given back so far (failed + cancelled items).';
comment on column public.jobs.webhook_url is 'Where the job summary is POSTed when it finishes (optional).';
comment on column public.jobs.webhook_secret is
  'HMAC-SHA256 key of the CreatorScrape-Signature header (whsec_...); returned once at creation, '
  'never readable by authenticated users.';
comment on column public.jobs.finished_at is 'When the last item reached a final state.';
create index jobs_user_id_seq_idx on public.jobs (user_id, seq desc);
create index jobs_api_key_id_idx on public.jobs (api_key_id) where api_key_id is not null;
alter table public.jobs enable row level security;

create policy "jobs: owner can read" on public.jobs
  for select to authenticated using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
create table public.job_items (
  id bigint generated always as identity primary key,
  job_id uuid not null references public.jobs (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  position integer not null check (position >= 0),
  url text not null check (char_length(url) between 1 and 2048),
  host text not null,
  status text not null default 'queued'
    check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  attempts integer not null default 0 check (attempts >= 0),
  task_id bigint,
  profile jsonb,
  cached boolean,
  error_code text,
  error_message text,
  error_details jsonb,
  started_at timestamptz,
  finished_at timestamptz,
  unique (job_id, position),
  check ((status = 'succeeded') = (profile is not null)),
  check ((status = 'failed') = (error_code is not null))
);
comment on table public.job_items is
  'One row per accepted URL of a job: its state and result (profile or error). Final states '
  '(succeeded, failed, cancelled) are never left; workers check this on every delivery.';
comment on column public.job_items.user_id is 'Owner (copied from the job) so RLS needs no join.';
comment on column public.job_items.position is 'Index of the URL in the accepted list (0-based).';
comment on column public.job_items.url is 'The normalised URL fetched.';
comment on column public.job_items.host is 'Host name of url: the key of per-host politeness.';
comment on column public.job_items.attempts is
  'Times a worker started fetching this item (more than 1 after a crash, a 429 or an error).';
comment on column public.job_items.task_id is
  'procrastinate.procrastinate_jobs.id of the queue task currently responsible for the item; '
  'a task with another id (superseded by a reschedule) does nothing.';
comment on column public.job_items.profile is 'The CreatorProfile JSON (succeeded items).';
comment on column public.job_items.cached is 'True when the profile came from the profile cache.';
comment on column public.job_items.error_code is
  'API error code of a failed item: creator_not_found, upstream_blocked, upstream_error, '
  'upstream_timeout, url_not_allowed, internal_error.';
comment on column public.job_items.error_details is 'The error''s details (e.g. {"reason": "status_500"}).';
create index job_items_job_id_id_idx on public.job_items (job_id, id);
create index job_items_user_id_idx on public.job_items (user_id);
alter table public.job_items enable row level security;

create policy "job_items: owner can read" on public.job_items
  for select to authenticated using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
create table public.webhook_deliveries (
  id bigint generated always as identity primary key,
  job_id uuid not null references public.jobs (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  event_id text not null,
  attempt integer not null check (attempt >= 1),
  url text not null,
  status_code integer,
  error text,
  duration_ms integer,
  succeeded boolean not null,
  created_at timestamptz not null default now()
);
comment on table public.webhook_deliveries is
  'Every attempt to POST a finished job''s summary to its webhook_url (retried with back-off).';
comment on column public.webhook_deliveries.event_id is 'The event''s id (same for every attempt).';
comment on column public.webhook_deliveries.status_code is 'HTTP status answered (null: no answer).';
comment on column public.webhook_deliveries.error is
  'Why the attempt failed: status_<n>, timeout, connection_error, url_not_allowed, ...';
comment on column public.webhook_deliveries.duration_ms is 'Time the attempt took, in milliseconds.';
create index webhook_deliveries_job_id_id_idx on public.webhook_deliveries (job_id, id);
create index webhook_deliveries_user_id_idx on public.webhook_deliveries (user_id);
alter table public.webhook_deliveries enable row level security;

create policy "webhook_deliveries: owner can read" on public.webhook_deliveries
  for select to authenticated using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- Privileges: authenticated reads its own rows (RLS), never the webhook secret; nobody but the
-- API and the workers (service role / owner) writes.
revoke all on public.jobs, public.job_items, public.webhook_deliveries from anon, authenticated;
grant select (id, user_id, api_key_id, status, items_total, items_succeeded, items_failed,
              items_cancelled, credits_charged, credits_refunded, webhook_url, created_at,
              started_at, cancelled_at, finished_at)
  on public.jobs to authenticated;
grant select on public.job_items, public.webhook_deliveries to authenticated;
grant all on public.jobs, public.job_items, public.webhook_deliveries to service_role;

-- ---------------------------------------------------------------------------------------------
create table private.host_politeness (
  host text primary key,
  next_start_at timestamptz not null default now(),
  blocked_until timestamptz,
  updated_at timestamptz not null default now()
);
comment on table private.host_politeness is
  'Per upstream host, shared by every worker: the earliest time the next fetch may start '
  '(spacing, JOBS_HOST_SPACING_MS) and a back-off after an HTTP 429 (Retry-After). The '
  'per-host concurrency limit is the procrastinate lock of each item task (host:<host>:<slot>).';
comment on column private.host_politeness.next_start_at is
  'Start time reserved by the latest fetch plus the spacing; each fetch takes the next slot.';
comment on column private.host_politeness.blocked_until is
  'No fetch of this host starts before this instant (set from a 429''s Retry-After).';
alter table private.host_politeness enable row level security;
revoke all on private.host_politeness from public, anon, authenticated;
grant all on private.host_politeness to service_role;
