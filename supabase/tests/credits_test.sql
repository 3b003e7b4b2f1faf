-- pgTAP: the credit functions (spend, refund, grant, revoke) and the signup grant.
-- Run with `supabase test db`, or `pg_prove -d "$DATABASE_URL" supabase/tests/*.sql` on a
-- database with the migrations and the pgtap extension. One transaction, rolled back; the
-- signup grant is set here, whatever private.settings says on the target database.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(39);

-- Users A (funded by hand) and C (signup grant); A has one live, one revoked, one expired key.
update private.settings set value = '0' where key = 'signup_credits';
insert into auth.users (id, email)
values ('00000000-0000-4000-8000-00000000000a', 'sqltest-a@example.com');

update private.settings set value = '7' where key = 'signup_credits';
insert into auth.users (id, email)
values ('00000000-0000-4000-8000-00000000000c', 'sqltest-c@example.com');

with k as (
  insert into public.api_keys (id, user_id, name, prefix, revoked_at, expires_at)
  values ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-00000000000a',
          'live', 'cs_live_sqlA', null, null),
         ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-00000000000a',
          'revoked', 'cs_live_sqlB', now() - interval '1 second', null),
         ('00000000-0000-4000-8000-0000000000a3', '00000000-0000-4000-8000-00000000000a',
          'expired', 'cs_live_sqlC', null, now() - interval '1 second')
  returning id
)
insert into private.api_key_hashes (key_id, key_hash)
select k.id, repeat(right(k.id::text, 1), 64) from k;

-- ---------------------------------------------------------------------------------------------
-- Signup grant.
select is(
  (select balance from public.credit_balances where user_id = '00000000-0000-4000-8000-00000000000a'),
  0::bigint, 'signup_credits = 0: no grant, balance 0');
select is(
  (select count(*) from public.credit_ledger where user_id = '00000000-0000-4000-8000-00000000000a'),
  0::bigint, 'signup_credits = 0: no ledger row');
select is(
  (select balance from public.credit_balances where user_id = '00000000-0000-4000-8000-00000000000c'),
  7::bigint, 'signup_credits = 7: the new user has 7 credits');
select results_eq(
  $$ select delta, reason, ref from public.credit_ledger
      where user_id = '00000000-0000-4000-8000-00000000000c' $$,
  $$ values (7::bigint, 'signup_grant'::text, '00000000-0000-4000-8000-00000000000c'::text) $$,
  'the signup grant is one ledger row, ref = the user id');

-- ---------------------------------------------------------------------------------------------
-- grant_credits.
select results_eq(
  $$ select applied, balance from public.grant_credits(
       '00000000-0000-4000-8000-00000000000a', 3, 'admin_grant', 'sqltest-g1') $$,
  $$ values (true, 3::bigint) $$,
  'grant_credits adds credits');
select results_eq(
  $$ select applied, balance from public.grant_credits(
       '00000000-0000-4000-8000-00000000000a', 3, 'admin_grant', 'sqltest-g1') $$,
  $$ values (false, 3::bigint) $$,
  'grant_credits applies once per (reason, ref)');
select throws_ok(
  $$ select public.grant_credits('00000000-0000-4000-8000-00000000000a', 0, 'admin_grant', 'g0') $$,
  '22023', null, 'grant_credits refuses a non-positive amount');
select throws_ok(
  $$ select public.grant_credits('00000000-0000-4000-8000-00000000000a', 1, 'usage', 'g-usage') $$,
  '22023', null, 'grant_credits refuses the reserved reason usage');
select throws_ok(
  $$ select public.grant_credits('00000000-0000-4000-8000-0000000000ff', 1, 'admin_grant', 'g-x') $$,
  'CS006', null, 'grant_credits refuses a user without a balance');

-- ---------------------------------------------------------------------------------------------
-- spend_credits: authenticates by hash, takes credits atomically.
select results_eq(
  $$ select user_id, api_key_id, plan, balance from public.spend_credits(repeat('1', 64), 1, 'sqltest-s1') $$,
  $$ values ('00000000-0000-4000-8000-00000000000a'::uuid, '00000000-0000-4000-8000-0000000000a1'::uuid,
             'free'::text, 2::bigint) $$,
  'spend_credits returns the user, key, plan and new balance');
select lives_ok(
  $$ select public.spend_credits(repeat('1', 64), 1, 'sqltest-s2') $$, 'second spend');
select lives_ok(
  $$ select public.spend_credits(repeat('1', 64), 1, 'sqltest-s3') $$, 'third spend');
select throws_ok(
  $$ select public.spend_credits(repeat('1', 64), 1, 'sqltest-s4') $$,
  'CS004', 'insufficient_credits', 'a spend beyond the balance is CS004');
select is(
  (select balance from public.credit_balances where user_id = '00000000-0000-4000-8000-00000000000a'),
  0::bigint, 'the refused spend took nothing');
select is(
  (select count(*) from public.credit_ledger where ref = 'sqltest-s4'),
  0::bigint, 'the refused spend wrote no ledger row');
select results_eq(
  $$ select balance from public.spend_credits(repeat('1', 64), 0, 'sqltest-free') $$,
  $$ values (0::bigint) $$,
  'cost 0 only authenticates');
select is(
  (select count(*) from public.credit_ledger where ref = 'sqltest-free'),
  0::bigint, 'cost 0 writes no ledger row');
select throws_ok(
  $$ select public.spend_credits(repeat('9', 64), 1, 'sqltest-u') $$,
  'CS001', 'invalid_api_key', 'an unknown hash is CS001');
select throws_ok(
  $$ select public.spend_credits(repeat('2', 64), 1, 'sqltest-r') $$,
  'CS002', 'invalid_api_key', 'a revoked key is CS002');
select throws_ok(
  $$ select public.spend_credits(repeat('3', 64), 1, 'sqltest-e') $$,
  'CS003', 'invalid_api_key', 'an expired key is CS003');
select throws_ok(
  $$ select public.spend_credits(repeat('1', 64), -1, 'sqltest-n') $$,
  '22023', null, 'a negative cost is refused');
select ok(
  (select last_used_at is not null from public.api_keys
    where id = '00000000-0000-4000-8000-0000000000a1'),
  'a successful spend records last_used_at');

-- ---------------------------------------------------------------------------------------------
-- refund_credits.
select results_eq(
  $$ select applied, refunded, balance from public.refund_credits('sqltest-s1') $$,
  $$ values (true, 1::bigint, 1::bigint) $$,
  'refund_credits gives back a whole charge');
select results_eq(
  $$ select applied, refunded, balance from public.refund_credits('sqltest-s1') $$,
  $$ values (false, 0::bigint, 1::bigint) $$,
  'a second refund of the same charge changes nothing');
select throws_ok(
  $$ select public.refund_credits('sqltest-none') $$,
  'CS007', null, 'refunding an unknown charge is CS007');

select lives_ok(
  $$ select public.grant_credits('00000000-0000-4000-8000-00000000000a', 10, 'admin_grant', 'sqltest-g2') $$,
  'grant 10 more');
select lives_ok(
  $$ select public.spend_credits(repeat('1', 64), 5, 'sqltest-batch') $$, 'a charge of 5');
select results_eq(
  $$ select applied, refunded from public.refund_credits('sqltest-batch', 2, 'sqltest-batch:1') $$,
  $$ values (true, 2::bigint) $$,
  'a partial refund');
select results_eq(
  $$ select applied, refunded from public.refund_credits('sqltest-batch', 2, 'sqltest-batch:1') $$,
  $$ values (false, 0::bigint) $$,
  'a partial refund applies once per refund ref');
select results_eq(
  $$ select applied, refunded from public.refund_credits('sqltest-batch', 9, 'sqltest-batch:2') $$,
  $$ values (true, 3::bigint) $$,
  'refunds are capped by what was charged');
select results_eq(
  $$ select applied, refunded from public.refund_credits('sqltest-batch', 1, 'sqltest-batch:3') $$,
  $$ values (false, 0::bigint) $$,
  'nothing is left to refund');

-- ---------------------------------------------------------------------------------------------
-- revoke_credits (refunded purchases): never below zero, the rest recorded as a shortfall.
select results_eq(
  $$ select applied, revoked, shortfall, balance
       from public.revoke_credits('00000000-0000-4000-8000-00000000000a', 4, 'purchase_refund', 'ch_1:400') $$,
  $$ values (true, 4::bigint, 0::bigint, 7::bigint) $$,
  'revoke_credits takes credits back');
select results_eq(
  $$ select applied, revoked, shortfall, balance
       from public.revoke_credits('00000000-0000-4000-8000-00000000000a', 4, 'purchase_refund', 'ch_1:400') $$,
  $$ values (false, 4::bigint, 0::bigint, 7::bigint) $$,
  'revoke_credits applies once per (reason, ref) and reports the first result');
select results_eq(
  $$ select applied, revoked, shortfall, balance
       from public.revoke_credits('00000000-0000-4000-8000-00000000000a', 10, 'purchase_refund', 'ch_2:1000') $$,
  $$ values (true, 7::bigint, 3::bigint, 0::bigint) $$,
  'revoke_credits never goes below zero');
select results_eq(
  $$ select requested, revoked, shortfall from public.credit_shortfalls where ref = 'ch_2:1000' $$,
  $$ values (10::bigint, 7::bigint, 3::bigint) $$,
  'the shortfall is recorded');
select is(
  (select flagged_reason from public.profiles where id = '00000000-0000-4000-8000-00000000000a'),
  'refund_shortfall', 'and the account is flagged');
select throws_ok(
  $$ select public.revoke_credits('00000000-0000-4000-8000-00000000000a', 1, 'purchase', 'x') $$,
  '22023', null, 'revoke_credits refuses reserved reasons');

-- ---------------------------------------------------------------------------------------------
-- The ledger explains every balance.
select is_empty(
  $$ select b.user_id from public.credit_balances b
      where b.balance <> (select coalesce(sum(l.delta), 0) from public.credit_ledger l
                           where l.user_id = b.user_id) $$,
  'every balance equals the sum of its ledger rows');
select is_empty(
  $$ select l.id from public.credit_ledger l
      where l.balance_after <> (select sum(m.delta) from public.credit_ledger m
                                 where m.user_id = l.user_id and m.id <= l.id) $$,
  'every balance_after is the running sum');

select * from finish();
rollback;
