-- Stripe fulfilment grants only what we sold (issue 8, part 3).
--
-- A signed checkout.session.completed used to be trusted: a session with no stripe_payments row
-- was fulfilled from its metadata (credits included), and amount_total was never checked. Now a
-- paid session is granted only when /v1/billing/checkout recorded it (public.stripe_payments:
-- its user, pack and credits), and the amount and currency paid equal what that row recorded
-- (the pack's price when the session was created). Anything else grants nothing and is recorded
-- here for an admin.

create table public.stripe_fulfilment_alerts (
  id bigint generated always as identity primary key,
  checkout_session_id text not null,
  reason text not null
    check (reason in ('unknown_session', 'amount_mismatch', 'currency_mismatch')),
  event_id text not null,
  event_type text not null,
  user_id uuid references public.profiles (id) on delete set null,
  expected_amount bigint,
  expected_currency text,
  paid_amount bigint,
  paid_currency text,
  claimed_metadata jsonb,
  created_at timestamptz not null default now(),
  resolved_at timestamptz,
  unique (checkout_session_id, reason)
);
comment on table public.stripe_fulfilment_alerts is
  'Paid Checkout Sessions that granted nothing because they do not match what we sold: a session '
  '/v1/billing/checkout never created (unknown_session), or a paid amount or currency different '
  'from the recorded price. Review in Studio and set resolved_at; grant by hand with '
  'public.grant_credits if the payment is genuine. Service-only: RLS on with no policies.';
comment on column public.stripe_fulfilment_alerts.reason is
  'unknown_session: no public.stripe_payments row; amount_mismatch / currency_mismatch: the '
  'session paid another amount or currency than the pack''s recorded price.';
comment on column public.stripe_fulfilment_alerts.event_id is 'The first Stripe event (evt_...) that announced it.';
comment on column public.stripe_fulfilment_alerts.user_id is
  'For a known session: its buyer. For an unknown one: null (the event''s metadata is not trusted).';
comment on column public.stripe_fulfilment_alerts.expected_amount is
  'What we sold it for (stripe_payments.amount_total), smallest currency unit.';
comment on column public.stripe_fulfilment_alerts.paid_amount is 'The session''s amount_total.';
comment on column public.stripe_fulfilment_alerts.claimed_metadata is
  'The session''s metadata and client_reference_id as sent (what it claimed, not trusted).';
comment on column public.stripe_fulfilment_alerts.resolved_at is 'Set by an admin once reviewed.';
create index stripe_fulfilment_alerts_user_id_idx on public.stripe_fulfilment_alerts (user_id);
alter table public.stripe_fulfilment_alerts enable row level security;

revoke all on public.stripe_fulfilment_alerts from anon, authenticated;
grant all on public.stripe_fulfilment_alerts to service_role;
revoke all on all sequences in schema public from anon, authenticated;

comment on column public.stripe_payments.amount_total is
  'What we sold the session for (the pack''s price at checkout), smallest currency unit; a paid '
  'session must match it to be granted.';
comment on column public.stripe_payments.currency is
  'The pack''s currency at checkout; a paid session must match it to be granted.';
