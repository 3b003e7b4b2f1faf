-- Billing with Stripe: credit packs, one Stripe Customer per profile, Checkout Sessions and their
-- fulfilment, processed webhook events, disputes, and public.revoke_credits for refunds.
--
-- Credits still move only through SQL functions: a paid Checkout Session is granted with
-- public.grant_credits(user, credits, 'purchase', <checkout session id>) (unique (reason, ref):
-- once per session however many events announce it), a refund takes credits back with
-- public.revoke_credits(user, credits, 'purchase_refund', <charge id>:<amount refunded>).

-- ---------------------------------------------------------------------------------------------
create table public.credit_packs (
  id text primary key check (id ~ '^[a-z][a-z0-9_]{0,39}$'),
  name text not null check (char_length(name) between 1 and 100),
  credits integer not null check (credits > 0),
  unit_amount integer not null check (unit_amount > 0),
  currency text not null default 'usd' check (currency ~ '^[a-z]{3}$'),
  stripe_price_id text not null unique check (stripe_price_id ~ '^price_[A-Za-z0-9_]{1,200}$'),
  active boolean not null default true,
  sort_order integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.credit_packs is
  'Credit packs for sale (GET /v1/billing/packs). Edit in Studio: one row per Stripe Price. '
  'Deactivate a pack (active = false) rather than deleting it; past purchases reference it.';
comment on column public.credit_packs.id is 'Stable pack id clients send to /v1/billing/checkout (e.g. starter).';
comment on column public.credit_packs.credits is 'Credits granted once the payment succeeds.';
comment on column public.credit_packs.unit_amount is
  'Price in the smallest currency unit (cents for usd), for display. Must equal the Stripe Price: '
  'Stripe charges what the Price says.';
comment on column public.credit_packs.currency is 'ISO 4217 currency code, lower case (usd, eur).';
comment on column public.credit_packs.stripe_price_id is
  'The one-time Stripe Price (price_...) Checkout charges for this pack. The seed rows carry '
  'local fake ids (price_local_*): replace them with the ids from your Stripe dashboard.';
comment on column public.credit_packs.active is 'Only active packs are listed and can be bought.';
comment on column public.credit_packs.sort_order is 'Listing order (ascending).';
alter table public.credit_packs enable row level security;

create policy "credit_packs: everyone can read active packs" on public.credit_packs
  for select to anon, authenticated using (active);

insert into public.credit_packs (id, name, credits, unit_amount, currency, stripe_price_id, sort_order)
values
  ('starter', 'Starter', 1000, 1000, 'usd', 'price_local_starter', 10),
  ('growth', 'Growth', 6000, 5000, 'usd', 'price_local_growth', 20),
  ('scale', 'Scale', 30000, 20000, 'usd', 'price_local_scale', 30)
on conflict (id) do nothing;

-- ---------------------------------------------------------------------------------------------
create table public.stripe_customers (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  customer_id text not null unique check (customer_id ~ '^cus_[A-Za-z0-9_]{1,200}$'),
  created_at timestamptz not null default now()
);
comment on table public.stripe_customers is
  'The one Stripe Customer of a profile, created on first checkout or portal visit (the profile '
  'row is locked meanwhile and the create call carries an idempotency key derived from the user).';
comment on column public.stripe_customers.customer_id is 'Stripe Customer id (cus_...).';
alter table public.stripe_customers enable row level security;

create policy "stripe_customers: owner can read" on public.stripe_customers
  for select to authenticated using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
create table public.stripe_payments (
  checkout_session_id text primary key check (checkout_session_id ~ '^cs_[A-Za-z0-9_]{1,250}$'),
  user_id uuid not null references public.profiles (id) on delete cascade,
  pack_id text not null references public.credit_packs (id),
  credits integer not null check (credits > 0),
  amount_total bigint check (amount_total >= 0),
  currency text check (currency ~ '^[a-z]{3}$'),
  customer_id text,
  payment_intent_id text unique,
  charge_id text unique,
  status text not null default 'open'
    check (status in ('open', 'pending', 'paid', 'failed', 'expired')),
  granted_at timestamptz,
  amount_refunded bigint not null default 0 check (amount_refunded >= 0),
  credits_reversed integer not null default 0 check (credits_reversed >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (credits_reversed <= credits)
);
comment on table public.stripe_payments is
  'One row per Checkout Session we created (or that a webhook announced): what was bought, by '
  'whom, and what happened to it. Maps a refunded or disputed charge to its user without asking '
  'Stripe (payment_intent_id, stored on fulfilment).';
comment on column public.stripe_payments.credits is 'Credits of the pack at checkout time; granted once.';
comment on column public.stripe_payments.amount_total is 'Amount charged, smallest currency unit.';
comment on column public.stripe_payments.payment_intent_id is
  'Stripe PaymentIntent (pi_...) from the completed session: refunds and disputes map through it.';
comment on column public.stripe_payments.charge_id is 'Stripe Charge (ch_...), once a refund named it.';
comment on column public.stripe_payments.status is
  'open (session created), pending (completed, async payment not settled), paid (credits '
  'granted), failed (async payment failed), expired (session expired unpaid).';
comment on column public.stripe_payments.granted_at is 'When the credits were granted (ledger reason purchase, ref = session id).';
comment on column public.stripe_payments.amount_refunded is 'Cumulative amount refunded by Stripe, smallest currency unit.';
comment on column public.stripe_payments.credits_reversed is
  'Credits accounted for by refunds so far: floor(credits * amount_refunded / amount), taken back '
  'or, when the balance was too low, recorded in public.credit_shortfalls.';
create index stripe_payments_user_id_idx on public.stripe_payments (user_id);
create index stripe_payments_pack_id_idx on public.stripe_payments (pack_id);
alter table public.stripe_payments enable row level security;

create policy "stripe_payments: owner can read" on public.stripe_payments
  for select to authenticated using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
create table public.stripe_events (
  id text primary key check (id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
  type text not null,
  livemode boolean not null default false,
  stripe_created_at timestamptz,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  outcome text,
  payment_intent_id text,
  pending_object jsonb
);
comment on table public.stripe_events is
  'Every Stripe webhook event processed, once: the id is inserted in the same transaction that '
  'applies the event, so a redelivery finds it and changes nothing.';
comment on column public.stripe_events.stripe_created_at is 'The event''s created time at Stripe.';
comment on column public.stripe_events.outcome is
  'What processing did: granted, already_granted, pending, failed, revoked, suspended, lifted, '
  'ignored, unmatched (a refund or dispute for a payment not fulfilled yet; replayed on fulfilment), '
  'replayed.';
comment on column public.stripe_events.payment_intent_id is 'For unmatched charge events: the PaymentIntent to wait for.';
comment on column public.stripe_events.pending_object is
  'For unmatched charge events only: the event''s data.object, applied when its payment is fulfilled.';
create index stripe_events_unmatched_idx on public.stripe_events (payment_intent_id)
  where outcome = 'unmatched';
alter table public.stripe_events enable row level security;

-- ---------------------------------------------------------------------------------------------
create table public.stripe_disputes (
  id text primary key check (id ~ '^(dp|du)_[A-Za-z0-9_]{1,250}$'),
  user_id uuid not null references public.profiles (id) on delete cascade,
  checkout_session_id text references public.stripe_payments (checkout_session_id) on delete cascade,
  charge_id text,
  amount bigint,
  reason text,
  status text not null,
  opened_at timestamptz not null default now(),
  closed_at timestamptz
);
comment on table public.stripe_disputes is
  'Payment disputes (chargebacks). An open dispute suspends the account (profiles.suspended_at, '
  'suspended_reason payment_dispute); it is lifted when every dispute of the user is closed and '
  'the last one was won.';
comment on column public.stripe_disputes.status is 'Stripe''s dispute status (needs_response, won, lost, ...).';
comment on column public.stripe_disputes.closed_at is 'When charge.dispute.closed arrived.';
create index stripe_disputes_user_id_idx on public.stripe_disputes (user_id);
create index stripe_disputes_checkout_session_id_idx on public.stripe_disputes (checkout_session_id);
alter table public.stripe_disputes enable row level security;

create policy "stripe_disputes: owner can read" on public.stripe_disputes
  for select to authenticated using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
create table public.credit_shortfalls (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  reason text not null check (reason ~ '^[a-z][a-z0-9_]{0,39}$'),
  ref text not null check (char_length(ref) between 1 and 200),
  requested bigint not null check (requested > 0),
  revoked bigint not null check (revoked >= 0),
  shortfall bigint not null check (shortfall > 0),
  resolved_at timestamptz,
  created_at timestamptz not null default now(),
  unique (reason, ref)
);
comment on table public.credit_shortfalls is
  'Credits revoke_credits should have taken back but could not (the balance was lower): the '
  'user already spent credits that were refunded. The account is flagged (profiles.flagged_at); '
  'set resolved_at once settled.';
comment on column public.credit_shortfalls.requested is 'Credits the revocation asked for.';
comment on column public.credit_shortfalls.revoked is 'Credits actually taken (the balance then).';
comment on column public.credit_shortfalls.shortfall is 'requested - revoked.';
create index credit_shortfalls_user_id_idx on public.credit_shortfalls (user_id);
alter table public.credit_shortfalls enable row level security;

create policy "credit_shortfalls: owner can read" on public.credit_shortfalls
  for select to authenticated using (user_id = (select auth.uid()));

alter table public.profiles add column flagged_at timestamptz;
alter table public.profiles add column flagged_reason text;
comment on column public.profiles.flagged_at is
  'Set when the account needs a human look (e.g. a refund took back more credits than were '
  'left: see public.credit_shortfalls). Informational: API keys keep working.';
comment on column public.profiles.flagged_reason is 'Why the account was flagged (e.g. refund_shortfall).';

-- ---------------------------------------------------------------------------------------------
revoke all on public.credit_packs, public.stripe_customers, public.stripe_payments,
  public.stripe_events, public.stripe_disputes, public.credit_shortfalls
  from anon, authenticated;
grant select on public.credit_packs to anon, authenticated;
grant select on public.stripe_customers, public.stripe_payments, public.stripe_disputes,
  public.credit_shortfalls to authenticated;
grant all on public.credit_packs, public.stripe_customers, public.stripe_payments,
  public.stripe_events, public.stripe_disputes, public.credit_shortfalls to service_role;

-- ---------------------------------------------------------------------------------------------
-- revoke_credits: take credits back (a refunded purchase), at most once per (reason, ref), never
-- below zero. What cannot be taken is recorded in public.credit_shortfalls and flags the account.
create function public.revoke_credits(p_user_id uuid, p_amount integer, p_reason text, p_ref text)
returns table (applied boolean, revoked bigint, shortfall bigint, balance bigint)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_balance bigint;
  v_take bigint;
  v_short bigint;
begin
  if p_amount is null or p_amount <= 0 then
    raise exception 'amount must be a positive number of credits' using errcode = '22023';
  end if;
  if p_reason in ('usage', 'refund', 'purchase', 'signup_grant', 'admin_grant') then
    raise exception 'reason % cannot be used to revoke credits', p_reason using errcode = '22023';
  end if;

  -- Lock the balance row first: revocations and grants of this user queue here, and the
  -- duplicate checks below take a fresh snapshot.
  select b.balance into v_balance
    from public.credit_balances b where b.user_id = p_user_id for update;
  if not found then
    raise exception 'no credit balance for user %', p_user_id using errcode = 'CS006';
  end if;

  if exists (select 1 from public.credit_ledger l where l.reason = p_reason and l.ref = p_ref)
     or exists (select 1 from public.credit_shortfalls s where s.reason = p_reason and s.ref = p_ref)
  then
    return query
      select false,
             coalesce((select -l.delta from public.credit_ledger l
                        where l.reason = p_reason and l.ref = p_ref), 0::bigint),
             coalesce((select s.shortfall from public.credit_shortfalls s
                        where s.reason = p_reason and s.ref = p_ref), 0::bigint),
             v_balance;
    return;
  end if;

  v_take := least(p_amount::bigint, v_balance);
  v_short := p_amount - v_take;

  if v_take > 0 then
    update public.credit_balances b
       set balance = b.balance - v_take, updated_at = now()
     where b.user_id = p_user_id
    returning b.balance into v_balance;

    insert into public.credit_ledger (user_id, delta, balance_after, reason, ref)
    values (p_user_id, -v_take, v_balance, p_reason, p_ref);
  end if;

  if v_short > 0 then
    insert into public.credit_shortfalls (user_id, reason, ref, requested, revoked, shortfall)
    values (p_user_id, p_reason, p_ref, p_amount, v_take, v_short);

    update public.profiles p
       set flagged_at = coalesce(p.flagged_at, now()),
           flagged_reason = coalesce(p.flagged_reason, 'refund_shortfall'),
           updated_at = now()
     where p.id = p_user_id;
  end if;

  return query select true, v_take, v_short, v_balance;
end
$$;
comment on function public.revoke_credits(uuid, integer, text, text) is
  'Takes back p_amount credits from a user, once per (p_reason, p_ref): repeats return applied = '
  'false with what was done the first time. Never goes below zero: takes min(p_amount, balance), '
  'records the rest in public.credit_shortfalls and flags the profile (flagged_at). Returns '
  'applied, revoked, shortfall, balance. Errors: 22023 bad amount or reserved reason; CS006 user '
  'has no balance row.';

revoke execute on function public.revoke_credits(uuid, integer, text, text) from public, anon, authenticated;
grant execute on function public.revoke_credits(uuid, integer, text, text) to service_role;
