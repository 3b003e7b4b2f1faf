-- Database-linter (splinter) findings on our own objects, fixed without touching applied
-- migrations. Objects of 20261121200300_jobs.sql and the procrastinate schema are out of scope
-- here (still being edited elsewhere).

-- ---------------------------------------------------------------------------------------------
-- 0001 unindexed_foreign_keys: credit_ledger.api_key_id references public.api_keys
-- (on delete set null) with no index, so deleting a key scans the whole ledger. Usage rows carry
-- the key, grants and purchases do not: index only the rows that have one. The lookup done for
-- the foreign key (api_key_id = $1) implies "is not null", so the partial index serves it.
create index credit_ledger_api_key_id_idx on public.credit_ledger (api_key_id)
  where api_key_id is not null;
comment on index public.credit_ledger_api_key_id_idx is
  'Covers the foreign key credit_ledger.api_key_id -> api_keys.id (on delete set null) and '
  'per-key usage lookups.';

-- ---------------------------------------------------------------------------------------------
-- 0008 rls_enabled_no_policy: public.stripe_events is written and read only by the webhook
-- handler as service_role. RLS without policies (deny all) is deliberate, and anon and
-- authenticated hold no privileges on it. Say so where admins look (Studio shows the comment).
comment on table public.stripe_events is
  'Every Stripe webhook event processed, once: the id is inserted in the same transaction that '
  'applies the event, so a redelivery finds it and changes nothing. Service-only: RLS is enabled '
  'with no policies on purpose (deny all) and anon/authenticated hold no privileges; only '
  'service_role (the webhook handler) reads and writes it.';
