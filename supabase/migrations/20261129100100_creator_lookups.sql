-- Paid profile lookups (issue 8, parts 1 and 2; issue 11's one-round-trip cache hit).
--
-- * public.creator_profile_snapshots: every fetched profile, immutable. The cache
--   (public.creator_profiles) points at the newest snapshot of a creator.
-- * public.creator_lookups: one row per paid lookup: who, which key, the request id (the ledger
--   ref of its usage row), what it cost, whether it came from the cache, and the snapshot it
--   returned. Its status is the "settled" marker of the charge: pending (charged, work running),
--   succeeded (a profile was returned), refunded. A charge still pending after the fetch
--   deadline plus a grace period belongs to a request that died (worker killed, OOM, deploy):
--   public.sweep_orphaned_lookups refunds it, exactly once.
-- * Users read their own lookups and exactly the snapshots those lookups returned, never the
--   cache: public.creator_profiles is no longer readable by authenticated. A later, fresher
--   fetch of the same creator is a new snapshot, which a user sees only after paying for it.
--
-- Credits move only through public.spend_credits and public.refund_credits, called from these
-- functions (which authenticate the key through spend_credits and never read api_keys).

-- ---------------------------------------------------------------------------------------------
create table public.creator_profile_snapshots (
  id bigint generated always as identity primary key,
  platform text not null check (platform ~ '^[a-z]{1,20}$'),
  handle text not null check (char_length(handle) between 1 and 300),
  profile_url text not null,
  data jsonb not null,
  fetched_at timestamptz not null
);
comment on table public.creator_profile_snapshots is
  'Every profile fetched, as returned by the API; never updated. A user may read a snapshot only '
  'when one of their own succeeded lookups returned it (public.creator_lookups).';
comment on column public.creator_profile_snapshots.handle is
  'Identity of the creator: the platform handle, or for personal sites the origin and path '
  '(with a hash of the query string, never the query itself).';
comment on column public.creator_profile_snapshots.profile_url is
  'The canonical profile URL (no query string, fragment or credentials of the caller''s URL).';
comment on column public.creator_profile_snapshots.data is 'The CreatorProfile JSON returned.';
comment on column public.creator_profile_snapshots.fetched_at is 'When the page was fetched.';
alter table public.creator_profile_snapshots enable row level security;

alter table public.creator_profiles
  add column snapshot_id bigint references public.creator_profile_snapshots (id);
comment on column public.creator_profiles.snapshot_id is
  'The snapshot holding this entry''s data (null for entries cached before snapshots existed: '
  'they are treated as a cache miss).';
create index creator_profiles_snapshot_id_idx on public.creator_profiles (snapshot_id);
comment on table public.creator_profiles is
  'Cache of extracted public creator profiles, keyed by platform and handle (see '
  'creator_profile_snapshots.handle). Service-only: users read what they paid for through '
  'public.creator_lookups and public.creator_profile_snapshots, never the cache itself.';

-- The cache was readable by every signed-in user: take that back.
drop policy "creator_profiles: signed-in users can read" on public.creator_profiles;
revoke all on public.creator_profiles from anon, authenticated;

-- ---------------------------------------------------------------------------------------------
create table public.creator_lookups (
  id bigint generated always as identity primary key,
  request_id text not null unique check (char_length(request_id) between 1 and 200),
  user_id uuid not null references public.profiles (id) on delete cascade,
  api_key_id uuid references public.api_keys (id) on delete set null,
  platform text not null check (platform ~ '^[a-z]{1,20}$'),
  handle text not null check (char_length(handle) between 1 and 300),
  credits_charged integer not null check (credits_charged >= 0),
  cached boolean not null,
  status text not null check (status in ('pending', 'succeeded', 'refunded')),
  snapshot_id bigint references public.creator_profile_snapshots (id),
  created_at timestamptz not null default now(),
  settled_at timestamptz,
  check ((status = 'pending') = (settled_at is null)),
  check (status <> 'succeeded' or snapshot_id is not null)
);
comment on table public.creator_lookups is
  'Lookup history: one row per paid GET /v1/creators/profile call. Users read their own rows '
  '(and, through snapshot_id, the profile each returned). Written only by the lookup functions.';
comment on column public.creator_lookups.request_id is
  'The call''s X-Request-ID: also the ref of its usage (and refund) row in public.credit_ledger.';
comment on column public.creator_lookups.api_key_id is 'The API key that paid (null once deleted).';
comment on column public.creator_lookups.handle is 'Identity of the creator (as creator_profile_snapshots.handle).';
comment on column public.creator_lookups.credits_charged is 'Credits taken when the call started.';
comment on column public.creator_lookups.cached is 'True when answered from the cache.';
comment on column public.creator_lookups.status is
  'Settled marker of the charge: pending (charged, fetch running), succeeded (profile returned, '
  'snapshot_id set), refunded (no profile: the charge was given back, exactly once).';
comment on column public.creator_lookups.snapshot_id is
  'The profile this call returned (public.creator_profile_snapshots); null unless succeeded.';
comment on column public.creator_lookups.settled_at is 'When the status left pending.';
create index creator_lookups_user_id_id_idx on public.creator_lookups (user_id, id desc);
create index creator_lookups_api_key_id_idx on public.creator_lookups (api_key_id)
  where api_key_id is not null;
create index creator_lookups_snapshot_id_idx on public.creator_lookups (snapshot_id)
  where snapshot_id is not null;
create index creator_lookups_pending_idx on public.creator_lookups (created_at)
  where status = 'pending';
comment on index public.creator_lookups_pending_idx is
  'The orphan sweep''s scan: charges not settled yet, oldest first.';
alter table public.creator_lookups enable row level security;

create policy "creator_lookups: owner can read" on public.creator_lookups
  for select to authenticated using (user_id = (select auth.uid()));

create policy "creator_profile_snapshots: read what your own lookups returned"
  on public.creator_profile_snapshots
  for select to authenticated using (
    exists (
      select 1 from public.creator_lookups l
       where l.snapshot_id = creator_profile_snapshots.id
         and l.user_id = (select auth.uid())
         and l.status = 'succeeded'
    )
  );

revoke all on public.creator_lookups, public.creator_profile_snapshots from anon, authenticated;
grant select on public.creator_lookups, public.creator_profile_snapshots to authenticated;
grant all on public.creator_lookups, public.creator_profile_snapshots to service_role;
revoke all on all sequences in schema public from anon, authenticated;

-- Entries cached before this migration: personal-site entries under the old identity (host/path,
-- scheme, port and query ignored) can never be hit again and may hold a page fetched with a
-- caller's token: drop them. The rest keep only a canonical profile_url (no query or fragment),
-- and become snapshots, so they keep being served.
delete from public.creator_profiles c where c.platform = 'web' and c.handle not like '%://%';
update public.creator_profiles c set profile_url = regexp_replace(c.profile_url, '[?#].*$', '');
update public.creator_profiles c
   set data = jsonb_set(c.data, '{profile_url}',
                        to_jsonb(regexp_replace(c.data ->> 'profile_url', '[?#].*$', '')))
 where c.data ->> 'profile_url' is not null;

with moved as (
  insert into public.creator_profile_snapshots (platform, handle, profile_url, data, fetched_at)
  select c.platform, c.handle, c.profile_url, c.data, c.fetched_at from public.creator_profiles c
  returning id, platform, handle
)
update public.creator_profiles c set snapshot_id = m.id
  from moved m where m.platform = c.platform and m.handle = c.handle;

-- ---------------------------------------------------------------------------------------------
create function public.store_creator_profile(
  p_platform text, p_handle text, p_profile_url text, p_data jsonb, p_fetched_at timestamptz
)
returns bigint
language sql
security invoker
set search_path = ''
as $$
  with snapshot as (
    insert into public.creator_profile_snapshots (platform, handle, profile_url, data, fetched_at)
    values (p_platform, p_handle, p_profile_url, p_data, p_fetched_at)
    returning id
  ), cached as (
    insert into public.creator_profiles (platform, handle, profile_url, data, fetched_at, snapshot_id)
    select p_platform, p_handle, p_profile_url, p_data, p_fetched_at, s.id from snapshot s
    on conflict (platform, handle) do update
      set profile_url = excluded.profile_url, data = excluded.data,
          fetched_at = excluded.fetched_at, snapshot_id = excluded.snapshot_id
      where public.creator_profiles.fetched_at <= excluded.fetched_at
  )
  select id from snapshot
$$;
comment on function public.store_creator_profile(text, text, text, jsonb, timestamptz) is
  'Records a fetched profile as a new snapshot and makes it the cache entry of (platform, handle) '
  'unless a newer one is cached. Returns the snapshot id. Service only.';

-- ---------------------------------------------------------------------------------------------
create function public.begin_profile_lookup(
  p_key_hash text, p_request_id text, p_platform text, p_handle text,
  p_max_age integer, p_hit_cost integer, p_miss_cost integer
)
returns table (
  user_id uuid, api_key_id uuid, plan text, balance bigint, credits_charged integer,
  cached boolean, snapshot_id bigint, data jsonb, fetched_at timestamptz
)
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_snapshot bigint;
  v_data jsonb;
  v_fetched_at timestamptz;
  v_cost integer;
  v_user uuid;
  v_key uuid;
  v_plan text;
  v_balance bigint;
begin
  if p_max_age > 0 then
    select c.snapshot_id, c.data, c.fetched_at into v_snapshot, v_data, v_fetched_at
      from public.creator_profiles c
     where c.platform = p_platform and c.handle = p_handle and c.snapshot_id is not null
       and c.fetched_at > now() - make_interval(secs => p_max_age);
  end if;
  v_cost := case when v_snapshot is null then p_miss_cost else p_hit_cost end;

  select s.user_id, s.api_key_id, s.plan, s.balance into v_user, v_key, v_plan, v_balance
    from public.spend_credits(p_key_hash, v_cost, p_request_id) s;

  insert into public.creator_lookups
    (request_id, user_id, api_key_id, platform, handle, credits_charged, cached, status,
     snapshot_id, settled_at)
  values
    (p_request_id, v_user, v_key, p_platform, p_handle, v_cost, v_snapshot is not null,
     case when v_snapshot is null then 'pending' else 'succeeded' end, v_snapshot,
     case when v_snapshot is null then null else now() end);

  return query select v_user, v_key, v_plan, v_balance, v_cost, v_snapshot is not null,
                      v_snapshot, v_data, v_fetched_at;
end
$$;
comment on function public.begin_profile_lookup(text, text, text, text, integer, integer, integer) is
  'One round trip for a profile lookup: reads the cache entry of (p_platform, p_handle) if at '
  'most p_max_age seconds old, authenticates the key and takes p_hit_cost (hit) or p_miss_cost '
  '(miss) credits through public.spend_credits (ledger ref p_request_id), and records the lookup '
  '(succeeded for a hit, pending for a miss until settle_profile_lookup or '
  'refund_profile_lookup). Returns the principal, the charge and, for a hit, the cached profile. '
  'Errors: those of spend_credits (CS001-CS005).';

-- ---------------------------------------------------------------------------------------------
create function public.settle_profile_lookup(
  p_request_id text, p_platform text, p_handle text, p_profile_url text, p_data jsonb,
  p_fetched_at timestamptz
)
returns table (settled boolean, snapshot_id bigint)
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_snapshot bigint;
begin
  v_snapshot := public.store_creator_profile(p_platform, p_handle, p_profile_url, p_data, p_fetched_at);
  update public.creator_lookups l
     set status = 'succeeded', settled_at = now(), snapshot_id = v_snapshot
   where l.request_id = p_request_id and l.status = 'pending';
  return query select found, v_snapshot;
end
$$;
comment on function public.settle_profile_lookup(text, text, text, text, jsonb, timestamptz) is
  'Ends a pending lookup with its fetched profile, in one transaction: stores the snapshot and '
  'the cache entry, and marks the lookup succeeded. settled = false when the lookup was no '
  'longer pending (its charge was already refunded, e.g. by the orphan sweep): the caller must '
  'then not return the profile as paid.';

-- ---------------------------------------------------------------------------------------------
create function public.refund_profile_lookup(p_request_id text)
returns table (refunded boolean, balance bigint)
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_charged integer;
  v_balance bigint;
begin
  -- The row lock decides: of a late success, a normal refund and any number of sweepers, the
  -- first to lock the pending row wins; the others find it settled and change nothing.
  update public.creator_lookups l
     set status = 'refunded', settled_at = now()
   where l.request_id = p_request_id and l.status = 'pending'
  returning l.credits_charged into v_charged;
  if not found then
    return query select false, null::bigint;
    return;
  end if;
  -- The request is over: free its Idempotency-Key claim, so a retry may run (and pay) again.
  delete from private.idempotency_keys k where k.request_id = p_request_id and k.status_code is null;
  if v_charged > 0 then
    select r.balance into v_balance from public.refund_credits(p_request_id) r;
  end if;
  return query select true, v_balance;
end
$$;
comment on function public.refund_profile_lookup(text) is
  'Refunds a pending lookup''s charge in full and marks it refunded, exactly once (refunded = '
  'false when it was already settled, or is unknown), and releases the request''s unfinished '
  'Idempotency-Key claim. Returns the balance after the refund.';

-- ---------------------------------------------------------------------------------------------
create function public.sweep_orphaned_lookups(p_older_than_seconds integer, p_limit integer)
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_request_id text;
  v_count integer := 0;
begin
  if p_older_than_seconds is null or p_older_than_seconds < 1 then
    raise exception 'p_older_than_seconds must be at least 1' using errcode = '22023';
  end if;
  for v_request_id in
    select l.request_id from public.creator_lookups l
     where l.status = 'pending'
       and l.created_at < now() - make_interval(secs => p_older_than_seconds)
     order by l.created_at
     limit p_limit
       for update skip locked
  loop
    if (select r.refunded from public.refund_profile_lookup(v_request_id) r) then
      v_count := v_count + 1;
    end if;
  end loop;
  return v_count;
end
$$;
comment on function public.sweep_orphaned_lookups(integer, integer) is
  'Refunds up to p_limit lookups still pending p_older_than_seconds after they were charged '
  '(their request died before settling). Concurrent sweepers skip each other''s rows. Returns '
  'how many were refunded. Run by the workers'' periodic task and by '
  '`flask --app wsgi credits sweep-orphans`.';

-- ---------------------------------------------------------------------------------------------
-- Idempotency-Key claims remember the request that holds them, so a takeover after a crash can
-- refund that request's charge at once.
alter table private.idempotency_keys add column request_id text;
comment on column private.idempotency_keys.request_id is
  'X-Request-ID of the request holding the claim: when a dead request''s claim is taken over, its '
  'pending lookup is refunded in the same transaction; when its lookup is refunded (by the '
  'request or the orphan sweep), an unfinished claim is released.';
create index idempotency_keys_request_id_idx on private.idempotency_keys (request_id)
  where status_code is null;

-- ---------------------------------------------------------------------------------------------
revoke execute on function public.store_creator_profile(text, text, text, jsonb, timestamptz)
  from public, anon, authenticated;
revoke execute on function public.begin_profile_lookup(text, text, text, text, integer, integer, integer)
  from public, anon, authenticated;
revoke execute on function public.settle_profile_lookup(text, text, text, text, jsonb, timestamptz)
  from public, anon, authenticated;
revoke execute on function public.refund_profile_lookup(text) from public, anon, authenticated;
revoke execute on function public.sweep_orphaned_lookups(integer, integer)
  from public, anon, authenticated;
grant execute on function public.store_creator_profile(text, text, text, jsonb, timestamptz)
  to service_role;
grant execute on function public.begin_profile_lookup(text, text, text, text, integer, integer, integer)
  to service_role;
grant execute on function public.settle_profile_lookup(text, text, text, text, jsonb, timestamptz)
  to service_role;
grant execute on function public.refund_profile_lookup(text) to service_role;
grant execute on function public.sweep_orphaned_lookups(integer, integer) to service_role;
