-- Creator profiles: a cache of extracted public profiles, and stored responses for
-- Idempotency-Key replays.

create table public.creator_profiles (
  platform text not null check (platform ~ '^[a-z]{1,20}$'),
  handle text not null check (char_length(handle) between 1 and 300),
  profile_url text not null,
  data jsonb not null,
  fetched_at timestamptz not null default now(),
  primary key (platform, handle)
);
comment on table public.creator_profiles is
  'Cache of extracted public creator profiles, keyed by platform and handle (lower-cased). '
  'Public data: every signed-in user may read it. Written only by the API.';
comment on column public.creator_profiles.handle is
  'Account key on the platform: handle, youtube channel/<id>, or host/path for personal sites.';
comment on column public.creator_profiles.data is 'The CreatorProfile JSON returned by the API.';
comment on column public.creator_profiles.fetched_at is
  'When the page was fetched; entries older than the configured TTL are refetched.';
create index creator_profiles_fetched_at_idx on public.creator_profiles (fetched_at);
alter table public.creator_profiles enable row level security;

create policy "creator_profiles: signed-in users can read" on public.creator_profiles
  for select to authenticated using (true);

revoke all on public.creator_profiles from anon, authenticated;
grant select on public.creator_profiles to authenticated;
grant all on public.creator_profiles to service_role;

-- Idempotency-Key: the first response to a request is kept for 24 h and replayed.
create table private.idempotency_keys (
  api_key_hash text not null,
  idempotency_key text not null check (char_length(idempotency_key) between 1 and 255),
  request_fingerprint text not null,
  status_code integer,
  response jsonb,
  created_at timestamptz not null default now(),
  primary key (api_key_hash, idempotency_key)
);
comment on table private.idempotency_keys is
  'First response per (API key, Idempotency-Key), replayed for 24 h without a new charge. '
  'status_code null = the first request is still running.';
comment on column private.idempotency_keys.request_fingerprint is
  'SHA-256 of method, path, query and body: a different request with the same key is a 409.';
create index idempotency_keys_created_at_idx on private.idempotency_keys (created_at);
alter table private.idempotency_keys enable row level security;
revoke all on private.idempotency_keys from public, anon, authenticated;
grant all on private.idempotency_keys to service_role;
