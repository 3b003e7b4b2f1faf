-- Platform core: profiles, API keys, credit balances and the credit ledger, and the only functions
-- that move credits (spend_credits, refund_credits, grant_credits).

create schema if not exists private;
comment on schema private is
  'Internal settings and helpers; not exposed through the Supabase Data API.';
revoke all on schema private from public, anon, authenticated;
grant usage on schema private to service_role;

-- ---------------------------------------------------------------------------------------------
-- Settings admins edit in Studio.
create table private.settings (
  key text primary key,
  value jsonb not null,
  updated_at timestamptz not null default now()
);
comment on table private.settings is 'Operational settings read by SQL functions; edit in Studio.';
alter table private.settings enable row level security;
insert into private.settings (key, value) values ('signup_credits', '25'::jsonb);
comment on column private.settings.value is
  'signup_credits: free credits granted once to each new auth.users row (0 disables the grant).';

-- ---------------------------------------------------------------------------------------------
create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text,
  plan text not null default 'free' check (plan ~ '^[a-z][a-z0-9_]{0,31}$'),
  suspended_at timestamptz,
  suspended_reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.profiles is 'One row per auth.users row (created by trigger): plan and status.';
comment on column public.profiles.plan is
  'Pricing plan; selects the per-plan rate limit configured in the API (free, pro, ...).';
comment on column public.profiles.suspended_at is
  'Set while the account is suspended (e.g. a payment dispute); every API key is refused meanwhile.';
alter table public.profiles enable row level security;

create policy "profiles: owner can read" on public.profiles
  for select to authenticated using (id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
create table public.api_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  name text not null default 'default' check (char_length(name) between 1 and 100),
  key_hash text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
  prefix text not null check (char_length(prefix) between 8 and 24),
  scopes text[] not null default '{}',
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  expires_at timestamptz,
  revoked_at timestamptz
);
comment on table public.api_keys is
  'API keys. Only the SHA-256 of a key is stored; the plaintext is shown once at creation.';
comment on column public.api_keys.key_hash is
  'Hex SHA-256 of the full key. Not readable by authenticated users.';
comment on column public.api_keys.prefix is 'First characters of the key, for display (cs_live_AbCd...).';
comment on column public.api_keys.last_used_at is
  'Last successful authentication, refreshed at most once a minute per key.';
comment on column public.api_keys.expires_at is 'The key is refused from this instant on (null: never).';
comment on column public.api_keys.revoked_at is 'The key is refused from this instant on.';
create index api_keys_user_id_idx on public.api_keys (user_id);
alter table public.api_keys enable row level security;

create policy "api_keys: owner can read" on public.api_keys
  for select to authenticated using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
create table public.credit_balances (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  balance bigint not null default 0 check (balance >= 0),
  updated_at timestamptz not null default now()
);
comment on table public.credit_balances is
  'Current credits per user. Changed only by the credit functions, always with a ledger row.';
comment on column public.credit_balances.balance is 'Credits available (1 credit = 1 paid call).';
alter table public.credit_balances enable row level security;

create policy "credit_balances: owner can read" on public.credit_balances
  for select to authenticated using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
create table public.credit_ledger (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  delta bigint not null check (delta <> 0),
  balance_after bigint not null check (balance_after >= 0),
  reason text not null check (reason ~ '^[a-z][a-z0-9_]{0,39}$'),
  ref text not null check (char_length(ref) between 1 and 200),
  api_key_id uuid references public.api_keys (id) on delete set null,
  refund_of bigint references public.credit_ledger (id),
  created_at timestamptz not null default now(),
  unique (reason, ref)
);
comment on table public.credit_ledger is
  'Every change of a balance, append-only. sum(delta) per user equals credit_balances.balance.';
comment on column public.credit_ledger.delta is 'Signed change in credits (negative for usage).';
comment on column public.credit_ledger.balance_after is 'The balance right after this change.';
comment on column public.credit_ledger.reason is
  'Why: signup_grant, purchase, admin_grant, usage, refund, ... (unique with ref).';
comment on column public.credit_ledger.ref is
  'Idempotency reference: request id for usage, the charge''s ref or an item ref for refunds, '
  'the Stripe object id for purchases.';
comment on column public.credit_ledger.refund_of is 'For refunds: the usage row being refunded.';
create index credit_ledger_user_id_id_idx on public.credit_ledger (user_id, id desc);
create index credit_ledger_refund_of_idx on public.credit_ledger (refund_of)
  where refund_of is not null;
alter table public.credit_ledger enable row level security;

create policy "credit_ledger: owner can read" on public.credit_ledger
  for select to authenticated using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- Privileges. Supabase grants everything in public to anon and authenticated by default; take it
-- back explicitly and give authenticated read access to its own rows only (RLS above).
revoke all on public.profiles, public.api_keys, public.credit_balances, public.credit_ledger
  from anon, authenticated;
grant select on public.profiles, public.credit_balances, public.credit_ledger to authenticated;
grant select (id, user_id, name, prefix, scopes, created_at, last_used_at, expires_at, revoked_at)
  on public.api_keys to authenticated;
grant all on public.profiles, public.api_keys, public.credit_balances, public.credit_ledger
  to service_role;

-- ---------------------------------------------------------------------------------------------
-- grant_credits: add credits, at most once per (reason, ref).
create function public.grant_credits(p_user_id uuid, p_amount integer, p_reason text, p_ref text)
returns table (applied boolean, balance bigint, ledger_id bigint)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_balance bigint;
  v_ledger_id bigint;
begin
  if p_amount is null or p_amount <= 0 then
    raise exception 'amount must be a positive number of credits'
      using errcode = '22023', hint = 'grant_credits';
  end if;
  if p_reason in ('usage', 'refund') then
    raise exception 'reason % is reserved for spend_credits and refund_credits', p_reason
      using errcode = '22023';
  end if;

  -- Lock the balance row first: concurrent grants for one user queue here, and a duplicate
  -- (reason, ref) is then seen by the check below, which takes a fresh snapshot.
  select b.balance into v_balance
    from public.credit_balances b where b.user_id = p_user_id for update;
  if not found then
    raise exception 'no credit balance for user %', p_user_id using errcode = 'CS006';
  end if;

  select l.id, l.balance_after into v_ledger_id, v_balance
    from public.credit_ledger l where l.reason = p_reason and l.ref = p_ref;
  if found then
    select b.balance into v_balance from public.credit_balances b where b.user_id = p_user_id;
    return query select false, v_balance, v_ledger_id;
    return;
  end if;

  update public.credit_balances b
     set balance = b.balance + p_amount, updated_at = now()
   where b.user_id = p_user_id
  returning b.balance into v_balance;

  insert into public.credit_ledger (user_id, delta, balance_after, reason, ref)
  values (p_user_id, p_amount, v_balance, p_reason, p_ref)
  returning id into v_ledger_id;

  return query select true, v_balance, v_ledger_id;
end
$$;
comment on function public.grant_credits(uuid, integer, text, text) is
  'Adds p_amount credits to a user, once per (p_reason, p_ref): repeats return applied = false. '
  'Errors: 22023 bad amount or reserved reason; CS006 user has no balance row.';

-- ---------------------------------------------------------------------------------------------
-- spend_credits: authenticate an API key and take p_cost credits, in one call.
create function public.spend_credits(p_key_hash text, p_cost integer, p_ref text)
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
    from public.api_keys k
    join public.profiles p on p.id = k.user_id
   where k.key_hash = p_key_hash;

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
comment on function public.spend_credits(text, integer, text) is
  'Authenticates the key with SHA-256 p_key_hash and takes p_cost credits (ledger reason usage, '
  'ref p_ref), atomically. p_cost = 0 only authenticates and writes no ledger row. Returns '
  'user_id, api_key_id, plan and the new balance. Errors (SQLSTATE): CS001 unknown key, '
  'CS002 revoked, CS003 expired, CS005 account suspended, CS004 insufficient credits '
  '(detail: {"required", "balance"} JSON), 23505 duplicate p_ref, 22023 negative cost.';

-- ---------------------------------------------------------------------------------------------
-- refund_credits: give back (part of) the credits of the usage row with ref p_ref.
create function public.refund_credits(p_ref text, p_amount integer, p_refund_ref text)
returns table (applied boolean, refunded bigint, balance bigint)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_usage record;
  v_balance bigint;
  v_already bigint;
  v_amount bigint;
begin
  select l.id, l.user_id, -l.delta as charged, l.api_key_id
    into v_usage
    from public.credit_ledger l where l.reason = 'usage' and l.ref = p_ref;
  if not found then
    raise exception 'no usage with ref %', p_ref using errcode = 'CS007';
  end if;

  -- Serialise refunds of this user's credits, then re-read under the lock.
  perform 1 from public.credit_balances b where b.user_id = v_usage.user_id for update;

  if exists (select 1 from public.credit_ledger l
              where l.reason = 'refund' and l.ref = p_refund_ref) then
    select b.balance into v_balance from public.credit_balances b where b.user_id = v_usage.user_id;
    return query select false, 0::bigint, v_balance;
    return;
  end if;

  select coalesce(sum(l.delta), 0) into v_already
    from public.credit_ledger l where l.refund_of = v_usage.id;
  v_amount := least(coalesce(p_amount, v_usage.charged), v_usage.charged - v_already);

  if v_amount <= 0 then
    select b.balance into v_balance from public.credit_balances b where b.user_id = v_usage.user_id;
    return query select false, 0::bigint, v_balance;
    return;
  end if;

  update public.credit_balances b
     set balance = b.balance + v_amount, updated_at = now()
   where b.user_id = v_usage.user_id
  returning b.balance into v_balance;

  insert into public.credit_ledger (user_id, delta, balance_after, reason, ref, api_key_id, refund_of)
  values (v_usage.user_id, v_amount, v_balance, 'refund', p_refund_ref, v_usage.api_key_id, v_usage.id);

  return query select true, v_amount, v_balance;
end
$$;
comment on function public.refund_credits(text, integer, text) is
  'Refunds p_amount credits (null: all that remains) of the usage row with ref p_ref, once per '
  'p_refund_ref and never more than was charged in total. Returns applied, refunded, balance. '
  'Errors: CS007 no usage row with that ref.';

create function public.refund_credits(p_ref text)
returns table (applied boolean, refunded bigint, balance bigint)
language sql
security definer
set search_path = ''
as $$
  select * from public.refund_credits(p_ref, null, p_ref)
$$;
comment on function public.refund_credits(text) is
  'Refunds whatever remains of the usage row with ref p_ref, at most once (refund ref = p_ref).';

-- ---------------------------------------------------------------------------------------------
-- New auth.users row -> profile, balance and the signup grant.
create function private.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_grant integer;
begin
  insert into public.profiles (id, email) values (new.id, new.email);
  insert into public.credit_balances (user_id) values (new.id);
  select (s.value #>> '{}')::integer into v_grant from private.settings s where s.key = 'signup_credits';
  if coalesce(v_grant, 0) > 0 then
    perform public.grant_credits(new.id, v_grant, 'signup_grant', new.id::text);
  end if;
  return new;
end
$$;
comment on function private.handle_new_user() is
  'Creates the profile and balance of a new user and grants private.settings.signup_credits.';

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function private.handle_new_user();

-- ---------------------------------------------------------------------------------------------
revoke execute on function public.grant_credits(uuid, integer, text, text) from public, anon, authenticated;
revoke execute on function public.spend_credits(text, integer, text) from public, anon, authenticated;
revoke execute on function public.refund_credits(text, integer, text) from public, anon, authenticated;
revoke execute on function public.refund_credits(text) from public, anon, authenticated;
revoke execute on function private.handle_new_user() from public, anon, authenticated;
grant execute on function public.grant_credits(uuid, integer, text, text) to service_role;
grant execute on function public.spend_credits(text, integer, text) to service_role;
grant execute on function public.refund_credits(text, integer, text) to service_role;
grant execute on function public.refund_credits(text) to service_role;

-- ---------------------------------------------------------------------------------------------
-- Admin views for Studio, in a schema the Data API does not expose.
create schema if not exists admin;
comment on schema admin is 'Read-only reports for admins in Studio; not exposed to the Data API.';
revoke all on schema admin from public, anon, authenticated;
grant usage on schema admin to service_role;

create view admin.credit_balances with (security_invoker = true) as
select p.id as user_id,
       p.email,
       p.plan,
       b.balance,
       coalesce(sum(l.delta) filter (where l.reason = 'purchase'), 0) as lifetime_purchased,
       coalesce(sum(l.delta) filter (where l.delta > 0 and l.reason not in ('purchase', 'refund')), 0)
         as lifetime_granted,
       coalesce(-sum(l.delta) filter (where l.reason in ('usage', 'refund')), 0) as lifetime_spent,
       max(l.created_at) filter (where l.reason = 'usage') as last_usage_at
  from public.profiles p
  join public.credit_balances b on b.user_id = p.id
  left join public.credit_ledger l on l.user_id = p.id
 group by p.id, p.email, p.plan, b.balance;
comment on view admin.credit_balances is
  'Per user: balance, lifetime purchased and granted credits, and net credits spent (usage - refunds).';

create view admin.daily_usage with (security_invoker = true) as
select l.user_id,
       (l.created_at at time zone 'utc')::date as day,
       count(*) filter (where l.reason = 'usage') as paid_calls,
       coalesce(-sum(l.delta) filter (where l.reason = 'usage'), 0) as credits_charged,
       coalesce(sum(l.delta) filter (where l.reason = 'refund'), 0) as credits_refunded,
       coalesce(-sum(l.delta) filter (where l.reason in ('usage', 'refund')), 0) as credits_spent
  from public.credit_ledger l
 where l.reason in ('usage', 'refund')
 group by l.user_id, (l.created_at at time zone 'utc')::date;
comment on view admin.daily_usage is 'Per user and UTC day: calls charged, credits charged, refunded, net.';

revoke all on admin.credit_balances, admin.daily_usage from public, anon, authenticated;
grant select on admin.credit_balances, admin.daily_usage to service_role;
