-- pgTAP: privileges of the API roles. anon and authenticated can execute none of our functions
-- (credits move only through the API, as service_role or the owner), reach no private or admin
-- object, and hold exactly the table privileges RLS builds on. One transaction, rolled back.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(83);

-- ---------------------------------------------------------------------------------------------
-- Functions: nothing for anon or authenticated; the credit functions for service_role.
select function_privs_are('public', 'spend_credits', array['text', 'integer', 'text'], r, '{}'::text[])
  from unnest(array['anon', 'authenticated']) as r;
select function_privs_are('public', 'grant_credits', array['uuid', 'integer', 'text', 'text'], r, '{}'::text[])
  from unnest(array['anon', 'authenticated']) as r;
select function_privs_are('public', 'revoke_credits', array['uuid', 'integer', 'text', 'text'], r, '{}'::text[])
  from unnest(array['anon', 'authenticated']) as r;
select function_privs_are('public', 'refund_credits', array['text', 'integer', 'text'], r, '{}'::text[])
  from unnest(array['anon', 'authenticated']) as r;
select function_privs_are('public', 'refund_credits', array['text'], r, '{}'::text[])
  from unnest(array['anon', 'authenticated']) as r;
select function_privs_are('private', f, '{}'::text[], r, '{}'::text[])
  from unnest(array['handle_new_user', 'enforce_api_key_limit', 'apply_api_key_revocation',
                    'require_api_key_hash', 'revocations_take_effect_now']) as f
 cross join unnest(array['anon', 'authenticated']) as r;
-- The profile-lookup functions (cache read + charge + history, settle, refund, sweep): the
-- service only.
select function_privs_are('public', f.name, f.args, r.role, r.privs)
  from (values
    ('store_creator_profile', array['text', 'text', 'text', 'jsonb', 'timestamp with time zone']),
    ('begin_profile_lookup', array['text', 'text', 'text', 'text', 'integer', 'integer', 'integer']),
    ('settle_profile_lookup',
     array['text', 'text', 'text', 'text', 'jsonb', 'timestamp with time zone']),
    ('refund_profile_lookup', array['text']),
    ('sweep_orphaned_lookups', array['integer', 'integer'])
  ) as f (name, args)
 cross join (values ('anon', '{}'::text[]), ('authenticated', '{}'),
                    ('service_role', array['EXECUTE'])) as r (role, privs);

select function_privs_are('public', 'spend_credits', array['text', 'integer', 'text'], 'service_role', array['EXECUTE']);
select function_privs_are('public', 'grant_credits', array['uuid', 'integer', 'text', 'text'], 'service_role', array['EXECUTE']);
select function_privs_are('public', 'revoke_credits', array['uuid', 'integer', 'text', 'text'], 'service_role', array['EXECUTE']);
select function_privs_are('public', 'refund_credits', array['text', 'integer', 'text'], 'service_role', array['EXECUTE']);
select function_privs_are('public', 'refund_credits', array['text'], 'service_role', array['EXECUTE']);

-- Catch-all for functions added later: none of ours is executable by an API role.
select is_empty(
  $$ select p.oid::regprocedure::text || ' by ' || r
       from pg_catalog.pg_proc p
      cross join unnest(array['anon', 'authenticated']) as r
      where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace, 'admin'::regnamespace)
        and not exists (select 1 from pg_catalog.pg_depend d
                         where d.objid = p.oid and d.deptype = 'e')
        and pg_catalog.has_function_privilege(r, p.oid, 'EXECUTE') $$,
  'no function in public, private or admin is executable by anon or authenticated');
select is_empty(
  $$ select p.oid::regprocedure::text
       from pg_catalog.pg_proc p
      where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace, 'admin'::regnamespace)
        and p.prosecdef
        and not coalesce(p.proconfig, '{}') @> array['search_path=""'] $$,
  'every security definer function pins an empty search_path');

-- ---------------------------------------------------------------------------------------------
-- Schemas: private and admin are closed to the API roles.
select schema_privs_are(s, r, '{}'::text[])
  from unnest(array['private', 'admin']) as s
 cross join unnest(array['anon', 'authenticated']) as r;

-- ---------------------------------------------------------------------------------------------
-- Tables and views: authenticated reads (RLS picks the rows) and writes only where a policy
-- lets it; anon reads the price list only.
select table_privs_are('public', t, 'authenticated', array['SELECT'])
  from unnest(array['profiles', 'credit_balances', 'credit_ledger', 'credit_packs',
                    'credit_shortfalls', 'stripe_customers', 'stripe_payments', 'stripe_disputes',
                    'jobs', 'job_items', 'webhook_deliveries', 'api_key_status',
                    'daily_usage', 'creator_lookups', 'creator_profile_snapshots']) as t;
-- Service-only tables, the profile cache among them: users read what they paid for through
-- creator_lookups and creator_profile_snapshots.
select table_privs_are('public', t, r, '{}'::text[])
  from unnest(array['stripe_events', 'stripe_fulfilment_alerts', 'creator_profiles']) as t
 cross join unnest(array['anon', 'authenticated']) as r;
select table_privs_are('public', 'credit_packs', 'anon', array['SELECT']);
select table_privs_are('public', t, 'anon', '{}'::text[])
  from unnest(array['profiles', 'api_keys', 'api_key_revocations', 'api_key_status',
                    'credit_balances', 'credit_ledger', 'daily_usage', 'jobs', 'job_items',
                    'webhook_deliveries', 'creator_lookups', 'creator_profile_snapshots']) as t;
-- Insert on api_keys and api_key_revocations is granted on some columns only.
select ok(pg_catalog.has_table_privilege('authenticated', 'public.api_keys', 'SELECT'),
  'authenticated may select every column of api_keys');
select ok(not pg_catalog.has_column_privilege('authenticated', 'public.api_keys', 'revoked_at', 'INSERT'),
  'authenticated cannot insert revoked_at');
select ok(not pg_catalog.has_table_privilege('authenticated', 'public.api_keys', 'UPDATE, DELETE'),
  'authenticated cannot update or delete keys');

select * from finish();
rollback;
