-- The browser SDK path: every table or view a signed-in browser reads answers `select *`
-- (what supabase-js sends by default) and shows no secret.
--
-- * API-key hashes move out of public.api_keys into private.api_key_hashes, and job webhook
--   secrets out of public.jobs into private.job_webhook_secrets. The column grants that hid them
--   are replaced by plain table grants. public.spend_credits reads the hash from its new place
--   and is still one statement for the caller.
-- * public.api_key_status: each of the caller's keys with the status the API computes
--   (active, rotating, revoked, expired).
-- * public.daily_usage: the caller's paid calls and credits per UTC day, from the ledger.

-- ---------------------------------------------------------------------------------------------
-- API-key hashes.
create table private.api_key_hashes (
  key_id uuid primary key
    references public.api_keys (id) on delete cascade deferrable initially deferred,
  key_hash text not null unique check (key_hash ~ '^[0-9a-f]{64}$')
);
comment on table private.api_key_hashes is
  'Hex SHA-256 of each API key (public.api_keys.id -> hash), the only form a key is stored in. '
  'Read by public.spend_credits; never exposed to the Data API. Every key has exactly one row '
  '(checked when the creating transaction commits). Service-only.';
comment on column private.api_key_hashes.key_hash is
  'Hex SHA-256 of the full key (cs_live_...); the plaintext is shown once at creation.';
alter table private.api_key_hashes enable row level security;
revoke all on private.api_key_hashes from public, anon, authenticated;
grant all on private.api_key_hashes to service_role;

insert into private.api_key_hashes (key_id, key_hash)
select k.id, k.key_hash from public.api_keys k;

alter table public.api_keys drop column key_hash;
comment on table public.api_keys is
  'API keys: name, display prefix, scopes and lifetime. The key''s SHA-256 is in '
  'private.api_key_hashes; the plaintext is shown once at creation. Signed-in users read their '
  'own rows (select * works); public.api_key_status adds the status the API computes.';

create function private.require_api_key_hash()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from private.api_key_hashes h where h.key_id = new.id) then
    raise exception 'api key % has no hash', new.id
      using errcode = '23502',
            hint = 'Keys are created by POST /v1/keys/create or `flask keys create`.';
  end if;
  return null;
end
$$;
comment on function private.require_api_key_hash() is
  'Deferred constraint trigger on public.api_keys: at commit, refuses (23502) a key without a '
  'row in private.api_key_hashes, so no unusable key can be created (e.g. through the Data API).';
revoke execute on function private.require_api_key_hash() from public, anon, authenticated;

create constraint trigger api_keys_require_hash
  after insert on public.api_keys
  deferrable initially deferred
  for each row execute function private.require_api_key_hash();

-- ---------------------------------------------------------------------------------------------
-- Job webhook secrets.
create table private.job_webhook_secrets (
  job_id uuid primary key references public.jobs (id) on delete cascade,
  secret text not null check (secret ~ '^whsec_[A-Za-z0-9_-]{16,200}$')
);
comment on table private.job_webhook_secrets is
  'HMAC-SHA256 key of each job''s webhook signature (CreatorScrape-Signature), for jobs created '
  'with a webhook_url. Returned once by POST /v1/jobs/create; read by the webhook worker only. '
  'Service-only.';
alter table private.job_webhook_secrets enable row level security;
revoke all on private.job_webhook_secrets from public, anon, authenticated;
grant all on private.job_webhook_secrets to service_role;

insert into private.job_webhook_secrets (job_id, secret)
select j.id, j.webhook_secret from public.jobs j where j.webhook_secret is not null;

alter table public.jobs drop column webhook_secret;

-- ---------------------------------------------------------------------------------------------
-- Plain table grants: with the secrets gone, authenticated may read every column (RLS still
-- limits it to its own rows). Writes stay as they were.
revoke select on public.api_keys, public.jobs from authenticated;
grant select on public.api_keys, public.jobs to authenticated;

-- ---------------------------------------------------------------------------------------------
-- spend_credits: the same contract, reading the hash from private.api_key_hashes.
create or replace function public.spend_credits(p_key_hash text, p_cost integer, p_ref text)
returns table (user_id uuid, api_key_id uuid, plan text, balance bigint)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_key record;
  v_balance bigint;
begin
  if p_cost is null or p_cost < 0 then
    raise exception 'cost must be zero or a positive number of credits' using errcode = '22023';
  end if;

  select k.id, k.user_id, k.revoked_at, k.expires_at, k.last_used_at,
         p.plan, p.suspended_at
    into v_key
    from private.api_key_hashes h
    join public.api_keys k on k.id = h.key_id
    join public.profiles p on p.id = k.user_id
   where h.key_hash = p_key_hash;

  if not found then
    raise exception 'invalid_api_key' using errcode = 'CS001', detail = 'unknown';
  elsif v_key.revoked_at is not null and v_key.revoked_at <= now() then
    raise exception 'invalid_api_key' using errcode = 'CS002', detail = 'revoked';
  elsif v_key.expires_at is not null and v_key.expires_at <= now() then
    raise exception 'invalid_api_key' using errcode = 'CS003', detail = 'expired';
  elsif v_key.suspended_at is not null then
    raise exception 'account_suspended' using errcode = 'CS005', detail = 'suspended';
  end if;

  if p_cost = 0 then
    select b.balance into v_balance from public.credit_balances b where b.user_id = v_key.user_id;
  else
    update public.credit_balances b
       set balance = b.balance - p_cost, updated_at = now()
     where b.user_id = v_key.user_id and b.balance >= p_cost
    returning b.balance into v_balance;

    if not found then
      select b.balance into v_balance from public.credit_balances b where b.user_id = v_key.user_id;
      raise exception 'insufficient_credits'
        using errcode = 'CS004',
              detail = json_build_object('required', p_cost, 'balance', coalesce(v_balance, 0))::text;
    end if;

    insert into public.credit_ledger (user_id, delta, balance_after, reason, ref, api_key_id)
    values (v_key.user_id, -p_cost, v_balance, 'usage', p_ref, v_key.id);
  end if;

  if v_key.last_used_at is null or v_key.last_used_at < now() - interval '1 minute' then
    update public.api_keys k set last_used_at = now() where k.id = v_key.id;
  end if;

  return query select v_key.user_id, v_key.id, v_key.plan, v_balance;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- The key status the API computes, for the browser.
create view public.api_key_status with (security_invoker = true) as
select k.id,
       k.user_id,
       k.name,
       k.prefix,
       k.scopes,
       k.created_at,
       k.last_used_at,
       k.expires_at,
       k.revoked_at,
       case
         when k.revoked_at <= now() then 'revoked'
         when k.expires_at <= now() then 'expired'
         when k.revoked_at is not null then 'rotating'
         else 'active'
       end as status
  from public.api_keys k;
comment on view public.api_key_status is
  'Each API key the caller may see (RLS of public.api_keys: a user''s own keys) with the status '
  'GET /v1/keys/list reports. Read it with supabase.from(''api_key_status'').select(''*'').';
comment on column public.api_key_status.status is
  'active; rotating (replaced by a rotation, works until revoked_at); revoked; expired. '
  'Computed at read time.';

-- ---------------------------------------------------------------------------------------------
-- Daily usage of the caller's own account.
create view public.daily_usage with (security_invoker = true) as
select l.user_id,
       (l.created_at at time zone 'utc')::date as day,
       count(*) filter (where l.reason = 'usage') as paid_calls,
       coalesce(-sum(l.delta) filter (where l.reason = 'usage'), 0)::bigint as credits_charged,
       coalesce(sum(l.delta) filter (where l.reason = 'refund'), 0)::bigint as credits_refunded,
       coalesce(-sum(l.delta), 0)::bigint as credits_spent
  from public.credit_ledger l
 where l.reason in ('usage', 'refund')
 group by l.user_id, (l.created_at at time zone 'utc')::date;
comment on view public.daily_usage is
  'Per user and UTC day, from the ledger (RLS of public.credit_ledger: a user''s own rows): paid '
  'calls, credits charged, credits refunded and net credits spent. A job counts as one call '
  'charged one credit per URL.';
comment on column public.daily_usage.paid_calls is 'Ledger rows with reason usage (charged calls).';
comment on column public.daily_usage.credits_charged is 'Credits taken by those calls.';
comment on column public.daily_usage.credits_refunded is
  'Credits given back that day (failed lookups, failed or cancelled job items).';
comment on column public.daily_usage.credits_spent is 'credits_charged - credits_refunded.';

revoke all on public.api_key_status, public.daily_usage from public, anon, authenticated;
grant select on public.api_key_status, public.daily_usage to authenticated;
grant select on public.api_key_status, public.daily_usage to service_role;
