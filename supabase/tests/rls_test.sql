-- pgTAP: row-level security per table and role, as PostgREST runs a request (set local role +
-- request.jwt.claims): the policies on each table, what authenticated users A and B and anon
-- read, that `select *` works on every relation the browser reads, and that writes are refused.
-- One transaction, rolled back.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(102);

-- ---------------------------------------------------------------------------------------------
-- Fixtures: users A and B, each with a key, credits, a job with an item and a delivery, a
-- revocation, a Stripe customer, payment, dispute and a credit shortfall; profile lookups of one
-- creator (A paid for an older snapshot, B for a fresher one), a pending and a refunded lookup,
-- a cached creator nobody here paid for, and a fulfilment alert.
update private.settings set value = '0' where key = 'signup_credits';
insert into auth.users (id, email)
values ('00000000-0000-4000-8000-00000000000a', 'sqltest-a@example.com'),
       ('00000000-0000-4000-8000-00000000000b', 'sqltest-b@example.com');
with k as (
  insert into public.api_keys (id, user_id, name, prefix)
  values ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-00000000000a', 'a-key', 'cs_live_sqlA'),
         ('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-00000000000b', 'b-key', 'cs_live_sqlB')
  returning id
)
insert into private.api_key_hashes (key_id, key_hash)
select k.id, repeat(left(right(k.id::text, 2), 1), 64) from k;
insert into public.api_key_revocations (key_id, user_id, reason, effective_at)
select k.id, k.user_id, 'rotate', now() + interval '1 day' from public.api_keys k;

do $$
begin
  perform public.grant_credits(u.id, 10, 'admin_grant', 'sqltest-' || u.id)
     from auth.users u where u.email like 'sqltest-%';
  perform public.spend_credits(repeat('a', 64), 1, 'sqltest-spend-a');
  perform public.spend_credits(repeat('b', 64), 2, 'sqltest-spend-b');
  perform public.revoke_credits(u.id, 50, 'purchase_refund', 'sqltest-ch-' || u.id)
     from auth.users u where u.email like 'sqltest-%';
end
$$;

insert into public.jobs (id, user_id, charge_ref, items_total, credits_charged)
values ('00000000-0000-4000-8000-0000000000a9', '00000000-0000-4000-8000-00000000000a', 'sqltest-job-a', 1, 1),
       ('00000000-0000-4000-8000-0000000000b9', '00000000-0000-4000-8000-00000000000b', 'sqltest-job-b', 1, 1);
insert into public.job_items (job_id, user_id, position, url, host)
select j.id, j.user_id, 0, 'https://example.com/', 'example.com' from public.jobs j
 where j.charge_ref like 'sqltest-job-%';
insert into public.webhook_deliveries (job_id, user_id, event_id, attempt, url, succeeded)
select j.id, j.user_id, 'evt_sqltest', 1, 'https://example.com/hook', true from public.jobs j
 where j.charge_ref like 'sqltest-job-%';

insert into public.stripe_customers (user_id, customer_id)
values ('00000000-0000-4000-8000-00000000000a', 'cus_sqltestA'),
       ('00000000-0000-4000-8000-00000000000b', 'cus_sqltestB');
insert into public.stripe_payments (checkout_session_id, user_id, pack_id, credits)
values ('cs_sqltestA', '00000000-0000-4000-8000-00000000000a', 'starter', 1000),
       ('cs_sqltestB', '00000000-0000-4000-8000-00000000000b', 'starter', 1000);
insert into public.stripe_disputes (id, user_id, checkout_session_id, status)
values ('dp_sqltestA', '00000000-0000-4000-8000-00000000000a', 'cs_sqltestA', 'needs_response'),
       ('dp_sqltestB', '00000000-0000-4000-8000-00000000000b', 'cs_sqltestB', 'needs_response');
insert into public.stripe_events (id, type) values ('evt_sqltest', 'charge.refunded');

insert into public.creator_profile_snapshots (platform, handle, profile_url, data, fetched_at)
values ('youtube', 'sqltest-creator', 'https://www.youtube.com/@sqltest-creator', '{"v": "a"}',
        now() - interval '1 hour'),
       ('youtube', 'sqltest-creator', 'https://www.youtube.com/@sqltest-creator', '{"v": "b"}', now()),
       ('youtube', 'sqltest-unpaid', 'https://www.youtube.com/@sqltest-unpaid', '{"v": "c"}', now());
insert into public.creator_profiles (platform, handle, profile_url, data, fetched_at, snapshot_id)
select distinct on (s.handle) s.platform, s.handle, s.profile_url, s.data, s.fetched_at, s.id
  from public.creator_profile_snapshots s where s.handle like 'sqltest-%'
 order by s.handle, s.fetched_at desc;
insert into public.creator_lookups
  (request_id, user_id, api_key_id, platform, handle, credits_charged, cached, status,
   snapshot_id, settled_at)
select r.request_id, r.user_id::uuid, r.key_id::uuid, 'youtube', r.handle, 1, false, r.status,
       (select s.id from public.creator_profile_snapshots s where s.data ->> 'v' = r.v),
       case when r.status = 'pending' then null else now() end
  from (values
    ('sqltest-req-a1', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
     'sqltest-creator', 'succeeded', 'a'),
    ('sqltest-req-a2', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
     'sqltest-unpaid', 'pending', null),
    ('sqltest-req-b1', '00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-0000000000b1',
     'sqltest-creator', 'succeeded', 'b'),
    ('sqltest-req-b2', '00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-0000000000b1',
     'sqltest-unpaid', 'refunded', null)
  ) as r (request_id, user_id, key_id, handle, status, v);
insert into public.stripe_fulfilment_alerts (checkout_session_id, reason, event_id, event_type)
values ('cs_sqltestUnknown', 'unknown_session', 'evt_sqltest_alert', 'checkout.session.completed');

-- ---------------------------------------------------------------------------------------------
-- Every public table has RLS, and exactly these policies.
select is_empty(
  $$ select c.relname from pg_catalog.pg_class c
      where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
        and not c.relrowsecurity $$,
  'every public table has row-level security enabled');
select policies_are('public', 'profiles', array['profiles: owner can read']);
select policies_are('public', 'api_keys', array['api_keys: owner can read', 'api_keys: owner can create']);
select policies_are('public', 'api_key_revocations',
  array['api_key_revocations: owner can read', 'api_key_revocations: owner can revoke own keys']);
select policies_are('public', 'credit_balances', array['credit_balances: owner can read']);
select policies_are('public', 'credit_ledger', array['credit_ledger: owner can read']);
select policies_are('public', 'credit_packs', array['credit_packs: everyone can read active packs']);
select policies_are('public', 'credit_shortfalls', array['credit_shortfalls: owner can read']);
select policies_are('public', 'stripe_customers', array['stripe_customers: owner can read']);
select policies_are('public', 'stripe_payments', array['stripe_payments: owner can read']);
select policies_are('public', 'stripe_disputes', array['stripe_disputes: owner can read']);
select policies_are('public', 'stripe_events', '{}'::name[]);
select policies_are('public', 'jobs', array['jobs: owner can read']);
select policies_are('public', 'job_items', array['job_items: owner can read']);
select policies_are('public', 'webhook_deliveries', array['webhook_deliveries: owner can read']);
select policies_are('public', 'creator_lookups', array['creator_lookups: owner can read']);
select policies_are('public', 'creator_profile_snapshots',
  array['creator_profile_snapshots: read what your own lookups returned']);
select policies_are('public', 'creator_profiles', '{}'::name[]);
select policies_are('public', 'stripe_fulfilment_alerts', '{}'::name[]);
select policy_roles_are('public', 'credit_packs', 'credit_packs: everyone can read active packs',
  array['anon', 'authenticated']);
select policy_cmd_is('public', 'api_keys', 'api_keys: owner can create', 'insert',
  'users create keys by insert (the API does it for them, as them)');

-- ---------------------------------------------------------------------------------------------
-- As user A.
set local "request.jwt.claims" = '{"sub": "00000000-0000-4000-8000-00000000000a", "role": "authenticated", "aud": "authenticated"}';
set local role authenticated;

select results_eq('select id from public.profiles',
  $$ values ('00000000-0000-4000-8000-00000000000a'::uuid) $$, 'A reads only A''s profile');
select results_eq('select user_id, balance from public.credit_balances',
  $$ values ('00000000-0000-4000-8000-00000000000a'::uuid, 0::bigint) $$, 'A reads only A''s balance');
select results_eq('select distinct user_id from public.credit_ledger',
  $$ values ('00000000-0000-4000-8000-00000000000a'::uuid) $$, 'A reads only A''s ledger');
select results_eq('select id from public.api_keys',
  $$ values ('00000000-0000-4000-8000-0000000000a1'::uuid) $$, 'A reads only A''s keys');
select results_eq('select id, status from public.api_key_status',
  $$ values ('00000000-0000-4000-8000-0000000000a1'::uuid, 'rotating'::text) $$,
  'A reads only A''s key statuses');
select results_eq('select key_id from public.api_key_revocations',
  $$ values ('00000000-0000-4000-8000-0000000000a1'::uuid) $$, 'A reads only A''s revocations');
select results_eq('select distinct user_id from public.daily_usage',
  $$ values ('00000000-0000-4000-8000-00000000000a'::uuid) $$, 'A reads only A''s daily usage');
select results_eq('select id from public.jobs',
  $$ values ('00000000-0000-4000-8000-0000000000a9'::uuid) $$, 'A reads only A''s jobs');
select results_eq('select job_id from public.job_items',
  $$ values ('00000000-0000-4000-8000-0000000000a9'::uuid) $$, 'A reads only A''s job items');
select results_eq('select job_id from public.webhook_deliveries',
  $$ values ('00000000-0000-4000-8000-0000000000a9'::uuid) $$, 'A reads only A''s deliveries');
select results_eq('select customer_id from public.stripe_customers',
  $$ values ('cus_sqltestA'::text) $$, 'A reads only A''s Stripe customer');
select results_eq('select checkout_session_id from public.stripe_payments',
  $$ values ('cs_sqltestA'::text) $$, 'A reads only A''s payments');
select results_eq('select id from public.stripe_disputes',
  $$ values ('dp_sqltestA'::text) $$, 'A reads only A''s disputes');
select results_eq('select distinct user_id from public.credit_shortfalls',
  $$ values ('00000000-0000-4000-8000-00000000000a'::uuid) $$, 'A reads only A''s shortfalls');
select ok((select count(*) from public.credit_packs) >= 1, 'A reads the active credit packs');
select results_eq('select request_id, status from public.creator_lookups order by request_id',
  $$ values ('sqltest-req-a1'::text, 'succeeded'::text), ('sqltest-req-a2', 'pending') $$,
  'A reads only A''s lookups');
select results_eq('select data from public.creator_profile_snapshots',
  $$ values ('{"v": "a"}'::jsonb) $$,
  'A reads exactly the snapshot A''s lookups returned: not B''s fresher one, not the cache');
-- What supabase-js's select('*, creator_profile_snapshots(data)') makes PostgREST run.
select results_eq(
  $$ select l.request_id, s.data from public.creator_lookups l
       left join public.creator_profile_snapshots s on s.id = l.snapshot_id
      order by l.request_id $$,
  $$ values ('sqltest-req-a1'::text, '{"v": "a"}'::jsonb), ('sqltest-req-a2', null) $$,
  'A''s history with the profile each lookup returned (none while pending)');

-- select * (what supabase-js sends by default) works on every relation the browser reads.
select lives_ok('select * from public.profiles', 'select * on profiles');
select lives_ok('select * from public.credit_balances', 'select * on credit_balances');
select lives_ok('select * from public.credit_ledger', 'select * on credit_ledger');
select lives_ok('select * from public.api_keys', 'select * on api_keys');
select lives_ok('select * from public.api_key_status', 'select * on api_key_status');
select lives_ok('select * from public.api_key_revocations', 'select * on api_key_revocations');
select lives_ok('select * from public.daily_usage', 'select * on daily_usage');
select lives_ok('select * from public.jobs', 'select * on jobs');
select lives_ok('select * from public.job_items', 'select * on job_items');
select lives_ok('select * from public.webhook_deliveries', 'select * on webhook_deliveries');
select lives_ok('select * from public.credit_packs', 'select * on credit_packs');
select lives_ok('select * from public.stripe_payments', 'select * on stripe_payments');
select lives_ok('select * from public.creator_lookups', 'select * on creator_lookups');
select lives_ok('select * from public.creator_profile_snapshots',
  'select * on creator_profile_snapshots');

-- Writes are refused: credits move only through the (service-only) functions.
select throws_ok('update public.credit_balances set balance = 1000', '42501', null,
  'A cannot update a balance');
select throws_ok($$ insert into public.credit_ledger (user_id, delta, balance_after, reason, ref)
                    values ('00000000-0000-4000-8000-00000000000a', 5, 5, 'purchase', 'forged') $$,
  '42501', null, 'A cannot write the ledger');
select throws_ok('delete from public.credit_ledger', '42501', null, 'A cannot delete ledger rows');
select throws_ok('update public.api_keys set revoked_at = null', '42501', null,
  'A cannot un-revoke a key');
select throws_ok($$ update public.profiles set plan = 'pro' $$, '42501', null,
  'A cannot change the plan');
select throws_ok($$ update public.jobs set credits_refunded = 0 $$, '42501', null,
  'A cannot edit a job');
select throws_ok($$ update public.job_items set status = 'succeeded' $$, '42501', null,
  'A cannot edit a job item');
select throws_ok($$ update public.stripe_payments set status = 'paid' $$, '42501', null,
  'A cannot edit a payment');
select throws_ok($$ insert into public.api_keys (user_id, name, prefix)
                    values ('00000000-0000-4000-8000-00000000000b', 'forged', 'cs_live_forg') $$,
  '42501', null, 'A cannot create a key for B');
select throws_ok($$ insert into public.api_key_revocations (key_id, user_id, reason, effective_at)
                    values ('00000000-0000-4000-8000-0000000000b1',
                            '00000000-0000-4000-8000-00000000000a', 'revoke', now()) $$,
  '42501', null, 'A cannot revoke B''s key');
select throws_ok('select * from private.api_key_hashes', '42501', null, 'A cannot read key hashes');
select throws_ok('select * from private.job_webhook_secrets', '42501', null,
  'A cannot read webhook secrets');
select throws_ok('select * from private.settings', '42501', null, 'A cannot read the settings');
select throws_ok('select * from admin.credit_balances', '42501', null,
  'A cannot read the admin reports');
select throws_ok('select * from public.stripe_events', '42501', null,
  'A cannot read Stripe events');
select throws_ok('select * from public.creator_profiles', '42501', null,
  'A cannot read the profile cache');
select throws_ok('select * from public.stripe_fulfilment_alerts', '42501', null,
  'A cannot read fulfilment alerts');
select throws_ok($$ update public.creator_lookups set status = 'refunded', settled_at = now() $$,
  '42501', null, 'A cannot settle or refund a lookup');
select throws_ok($$ insert into public.creator_lookups
                      (request_id, user_id, platform, handle, credits_charged, cached, status,
                       settled_at)
                    values ('forged', '00000000-0000-4000-8000-00000000000a', 'youtube', 'x', 0,
                            true, 'refunded', now()) $$,
  '42501', null, 'A cannot write lookup history');
select throws_ok($$ insert into public.creator_profile_snapshots
                      (platform, handle, profile_url, data, fetched_at)
                    values ('youtube', 'x', 'https://example.com/', '{}', now()) $$,
  '42501', null, 'A cannot write snapshots');

-- ---------------------------------------------------------------------------------------------
-- As user B.
reset role;
set local "request.jwt.claims" = '{"sub": "00000000-0000-4000-8000-00000000000b", "role": "authenticated", "aud": "authenticated"}';
set local role authenticated;

select results_eq('select id from public.profiles',
  $$ values ('00000000-0000-4000-8000-00000000000b'::uuid) $$, 'B reads only B''s profile');
select results_eq('select user_id, balance from public.credit_balances',
  $$ values ('00000000-0000-4000-8000-00000000000b'::uuid, 0::bigint) $$, 'B reads only B''s balance');
select results_eq('select distinct user_id from public.credit_ledger',
  $$ values ('00000000-0000-4000-8000-00000000000b'::uuid) $$, 'B reads only B''s ledger');
select results_eq('select id, status from public.api_key_status',
  $$ values ('00000000-0000-4000-8000-0000000000b1'::uuid, 'rotating'::text) $$,
  'B reads only B''s keys');
select results_eq('select paid_calls, credits_charged from public.daily_usage',
  $$ values (1::bigint, 2::bigint) $$, 'B reads only B''s daily usage');
select results_eq('select id from public.jobs',
  $$ values ('00000000-0000-4000-8000-0000000000b9'::uuid) $$, 'B reads only B''s jobs');
select results_eq('select job_id from public.job_items',
  $$ values ('00000000-0000-4000-8000-0000000000b9'::uuid) $$, 'B reads only B''s job items');
select results_eq('select job_id from public.webhook_deliveries',
  $$ values ('00000000-0000-4000-8000-0000000000b9'::uuid) $$, 'B reads only B''s deliveries');
select results_eq('select checkout_session_id from public.stripe_payments',
  $$ values ('cs_sqltestB'::text) $$, 'B reads only B''s payments');
select results_eq('select id from public.stripe_disputes',
  $$ values ('dp_sqltestB'::text) $$, 'B reads only B''s disputes');
select results_eq('select request_id, status from public.creator_lookups order by request_id',
  $$ values ('sqltest-req-b1'::text, 'succeeded'::text), ('sqltest-req-b2', 'refunded') $$,
  'B reads only B''s lookups');
select results_eq('select data from public.creator_profile_snapshots',
  $$ values ('{"v": "b"}'::jsonb) $$,
  'B reads exactly the snapshot B''s lookups returned: not A''s older one, not the cache');

-- ---------------------------------------------------------------------------------------------
-- As anon: the price list, nothing else.
reset role;
set local "request.jwt.claims" = '{"role": "anon"}';
set local role anon;

select ok((select count(*) from public.credit_packs) >= 1, 'anon reads the active credit packs');
select is_empty('select id from public.credit_packs where not active',
  'anon does not see inactive packs');
select throws_ok('select * from public.profiles', '42501', null, 'anon cannot read profiles');
select throws_ok('select * from public.api_keys', '42501', null, 'anon cannot read keys');
select throws_ok('select * from public.api_key_status', '42501', null,
  'anon cannot read key statuses');
select throws_ok('select * from public.credit_balances', '42501', null,
  'anon cannot read balances');
select throws_ok('select * from public.credit_ledger', '42501', null, 'anon cannot read the ledger');
select throws_ok('select * from public.daily_usage', '42501', null, 'anon cannot read usage');
select throws_ok('select * from public.jobs', '42501', null, 'anon cannot read jobs');
select throws_ok('select * from public.job_items', '42501', null, 'anon cannot read job items');
select throws_ok('select * from public.webhook_deliveries', '42501', null,
  'anon cannot read deliveries');
select throws_ok('select * from public.stripe_payments', '42501', null,
  'anon cannot read payments');
select throws_ok('select * from public.creator_profiles', '42501', null,
  'anon cannot read the profile cache');
select throws_ok('select * from public.creator_lookups', '42501', null,
  'anon cannot read lookups');
select throws_ok('select * from public.creator_profile_snapshots', '42501', null,
  'anon cannot read snapshots');
select throws_ok('select * from public.stripe_fulfilment_alerts', '42501', null,
  'anon cannot read fulfilment alerts');
select throws_ok($$ insert into public.api_keys (user_id, name, prefix)
                    values (gen_random_uuid(), 'x', 'cs_live_xxxx') $$,
  '42501', null, 'anon cannot create keys');

reset role;

select * from finish();
rollback;
