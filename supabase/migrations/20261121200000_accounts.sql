-- Accounts: API-key management by the key's owner (create, revoke, rotate), through RLS.
--
-- The API's /v1/keys endpoints run as the caller (app.db.as_user: `set local role authenticated`
-- and request.jwt.claims, exactly as PostgREST runs a browser's request), so the policies below
-- are what keep user A away from user B's keys, on our API and on the Data API alike.
--
-- * Create: authenticated may INSERT its own rows into public.api_keys (column grant: user_id,
--   name, key_hash, prefix, scopes, expires_at; never revoked_at or last_used_at). It still can
--   never SELECT key_hash, and never UPDATE or DELETE a key.
-- * Revoke and rotate: authenticated INSERTs a row into public.api_key_revocations, allowed by
--   RLS only for its own keys; a trigger then brings the key's revoked_at forward to the row's
--   effective_at (now, or now + the rotation grace period). A revocation can only move earlier:
--   nobody can un-revoke a key or postpone its revocation, and every revocation is on record.
-- * Limit: a trigger on api_keys refuses a user's insert (SQLSTATE CS010) once they hold
--   app.max_active_api_keys active keys (the API sets it per transaction from
--   MAX_ACTIVE_KEYS_PER_USER; 10 when unset, e.g. on the Data API), under a per-user lock.
--
-- No function here is executable by anon or authenticated: the two trigger functions have
-- EXECUTE revoked (a trigger fires regardless), and only the revocation one is security definer
-- (authenticated has no UPDATE on api_keys).

-- ---------------------------------------------------------------------------------------------
-- Creating keys.
grant insert (user_id, name, key_hash, prefix, scopes, expires_at)
  on public.api_keys to authenticated;

create policy "api_keys: owner can create" on public.api_keys
  for insert to authenticated with check (user_id = (select auth.uid()));

create function private.enforce_api_key_limit()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_limit integer :=
    coalesce(nullif(current_setting('app.max_active_api_keys', true), '')::integer, 10);
  v_active integer;
  v_usable integer;
begin
  -- Only a user's own inserts are limited; admins (CLI, service_role, Studio) are not.
  if current_user <> 'authenticated' then
    return new;
  end if;
  -- Concurrent creates of one user queue here; in read committed each statement below then
  -- sees the keys committed before it, so concurrent inserts cannot pass the limit together.
  perform pg_advisory_xact_lock(hashtext('public.api_keys'), hashtext(new.user_id::text));

  select count(*) filter (where k.revoked_at is null), count(*)
    into v_active, v_usable
    from public.api_keys k
   where k.user_id = new.user_id
     and (k.revoked_at is null or k.revoked_at > now())
     and (k.expires_at is null or k.expires_at > now());

  -- Active keys (not revoked, expired or in a rotation grace period) are capped at the limit;
  -- together with keys still in a grace period, at twice the limit.
  if v_active >= v_limit or v_usable >= 2 * v_limit then
    raise exception 'key_limit_reached'
      using errcode = 'CS010',
            detail = json_build_object('limit', v_limit, 'active', v_active)::text;
  end if;
  return new;
end
$$;
comment on function private.enforce_api_key_limit() is
  'Before-insert trigger on public.api_keys: for role authenticated, raises CS010 (detail '
  '{"limit", "active"}) unless active keys < app.max_active_api_keys (default 10) and usable '
  'keys, incl. rotation grace periods, < twice that. Serialised per user by an advisory lock.';

create trigger api_keys_enforce_limit
  before insert on public.api_keys
  for each row execute function private.enforce_api_key_limit();

-- ---------------------------------------------------------------------------------------------
-- Revoking and rotating keys.
create table public.api_key_revocations (
  id uuid primary key default gen_random_uuid(),
  key_id uuid not null references public.api_keys (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  reason text not null check (reason in ('revoke', 'rotate')),
  effective_at timestamptz not null,
  created_at timestamptz not null default now()
);
comment on table public.api_key_revocations is
  'Revocations requested by key owners. Inserting a row revokes key_id at effective_at '
  '(trigger); the key''s revoked_at only ever moves earlier.';
comment on column public.api_key_revocations.reason is
  'revoke: revoked by its owner; rotate: replaced by a new key, works until effective_at.';
comment on column public.api_key_revocations.effective_at is
  'When the key stops working: now for revoke, now + the rotation grace period for rotate.';
create index api_key_revocations_key_id_idx on public.api_key_revocations (key_id);
create index api_key_revocations_user_id_idx on public.api_key_revocations (user_id);
alter table public.api_key_revocations enable row level security;

create policy "api_key_revocations: owner can read" on public.api_key_revocations
  for select to authenticated using (user_id = (select auth.uid()));

create policy "api_key_revocations: owner can revoke own keys" on public.api_key_revocations
  for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and exists (
      select 1 from public.api_keys k
       where k.id = api_key_revocations.key_id and k.user_id = (select auth.uid())
    )
  );

create function private.apply_api_key_revocation()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Runs after the row passed RLS (the key is the inserting user's). A rotation needs an active
  -- key: of two concurrent rotations of one key, the second waits for the first's row lock,
  -- then finds revoked_at set and fails with CS011.
  update public.api_keys k
     set revoked_at = least(coalesce(k.revoked_at, 'infinity'::timestamptz), new.effective_at)
   where k.id = new.key_id
     and k.user_id = new.user_id
     and (new.reason = 'revoke'
          or (k.revoked_at is null and (k.expires_at is null or k.expires_at > now())));
  if not found then
    raise exception 'key_not_active' using errcode = 'CS011';
  end if;
  return null;
end
$$;
comment on function private.apply_api_key_revocation() is
  'After-insert trigger on public.api_key_revocations: sets the key''s revoked_at to the '
  'earlier of its current value and effective_at. Raises CS011 when a rotate targets a key that '
  'is revoked, expired or already rotated.';

create trigger api_key_revocations_apply
  after insert on public.api_key_revocations
  for each row execute function private.apply_api_key_revocation();

-- ---------------------------------------------------------------------------------------------
-- Privileges. Supabase grants everything new in public to anon and authenticated by default;
-- take it back and grant exactly what the policies above need.
revoke all on public.api_key_revocations from anon, authenticated;
grant select on public.api_key_revocations to authenticated;
grant insert (key_id, user_id, reason, effective_at) on public.api_key_revocations
  to authenticated;
grant all on public.api_key_revocations to service_role;

revoke execute on function private.enforce_api_key_limit() from public, anon, authenticated;
revoke execute on function private.apply_api_key_revocation() from public, anon, authenticated;
