-- pgTAP: what the browser reads through the Supabase SDK. No secret column in any relation
-- authenticated can read; api_key_status says what GET /v1/keys/list says; daily_usage adds up
-- the ledger per UTC day; no key can exist without its hash. One transaction, rolled back.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(12);

-- ---------------------------------------------------------------------------------------------
-- No secrets where the browser reads.
select hasnt_column('public', 'api_keys', 'key_hash', 'api_keys has no key_hash');
select hasnt_column('public', 'jobs', 'webhook_secret', 'jobs has no webhook_secret');
select is_empty(
  $$ select c.oid::regclass::text || '.' || a.attname
       from pg_catalog.pg_class c
       join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'v', 'm', 'p')
        and pg_catalog.has_column_privilege('authenticated', c.oid, a.attnum, 'SELECT')
        and (a.attname ~ '(hash|secret|password|token)') $$,
  'no column authenticated can read is named like a secret');
select col_is_pk('private', 'api_key_hashes', 'key_id', 'one hash per key');
select col_is_unique('private', 'api_key_hashes', 'key_hash', 'hashes are unique');

-- ---------------------------------------------------------------------------------------------
-- Key status.
update private.settings set value = '0' where key = 'signup_credits';
insert into auth.users (id, email)
values ('00000000-0000-4000-8000-00000000000a', 'sqltest-a@example.com');
with k as (
  insert into public.api_keys (id, user_id, name, prefix, revoked_at, expires_at)
  values ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-00000000000a',
          'active', 'cs_live_sqlA', null, now() + interval '1 day'),
         ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-00000000000a',
          'rotating', 'cs_live_sqlB', now() + interval '1 hour', null),
         ('00000000-0000-4000-8000-0000000000a3', '00000000-0000-4000-8000-00000000000a',
          'revoked', 'cs_live_sqlC', now() - interval '1 second', null),
         ('00000000-0000-4000-8000-0000000000a4', '00000000-0000-4000-8000-00000000000a',
          'expired', 'cs_live_sqlD', null, now() - interval '1 second'),
         ('00000000-0000-4000-8000-0000000000a5', '00000000-0000-4000-8000-00000000000a',
          'revoked after expiry', 'cs_live_sqlE', now() - interval '1 second',
          now() - interval '1 hour')
  returning id
)
insert into private.api_key_hashes (key_id, key_hash)
select k.id, repeat(right(k.id::text, 1), 64) from k;

select results_eq(
  $$ select name, status from public.api_key_status
      where user_id = '00000000-0000-4000-8000-00000000000a' order by id $$,
  $$ values ('active'::text, 'active'::text), ('rotating', 'rotating'), ('revoked', 'revoked'),
            ('expired', 'expired'), ('revoked after expiry', 'revoked') $$,
  'api_key_status: active, rotating, revoked, expired');

-- ---------------------------------------------------------------------------------------------
-- Daily usage: usage and refund rows per UTC day; grants do not count.
do $$
begin
  perform public.grant_credits('00000000-0000-4000-8000-00000000000a', 100, 'admin_grant', 'sqltest-g');
  perform public.spend_credits(repeat('1', 64), 5, 'sqltest-job');
  perform public.refund_credits('sqltest-job', 1, 'sqltest-job:1');
  perform public.refund_credits('sqltest-job', 1, 'sqltest-job:2');
  perform public.spend_credits(repeat('1', 64), 1, 'sqltest-old');
end
$$;
update public.credit_ledger set created_at = '2026-01-02 23:59:59+00' where ref = 'sqltest-old';

select results_eq(
  $$ select day, paid_calls, credits_charged, credits_refunded, credits_spent
       from public.daily_usage where user_id = '00000000-0000-4000-8000-00000000000a'
      order by day $$,
  $$ values ('2026-01-02'::date, 1::bigint, 1::bigint, 0::bigint, 1::bigint),
            ((now() at time zone 'utc')::date, 1::bigint, 5::bigint, 2::bigint, 3::bigint) $$,
  'daily_usage: calls and credits per UTC day');
select is(
  (select sum(credits_spent)::bigint from public.daily_usage
    where user_id = '00000000-0000-4000-8000-00000000000a'),
  (select -sum(delta)::bigint from public.credit_ledger
    where user_id = '00000000-0000-4000-8000-00000000000a' and reason in ('usage', 'refund')),
  'daily_usage adds up to the ledger');

-- ---------------------------------------------------------------------------------------------
-- A key without a hash is refused when its transaction commits (here: when the deferred
-- constraint is checked).
select throws_ok(
  $$ do $x$
     begin
       insert into public.api_keys (user_id, name, prefix)
       values ('00000000-0000-4000-8000-00000000000a', 'no hash', 'cs_live_sqlF');
       set constraints all immediate;
     end
     $x$ $$,
  '23502', null, 'a key without a hash is refused');
select lives_ok(
  $$ do $x$
     begin
       with k as (insert into public.api_keys (user_id, name, prefix)
                  values ('00000000-0000-4000-8000-00000000000a', 'with hash', 'cs_live_sqlG')
                  returning id)
       insert into private.api_key_hashes (key_id, key_hash) select k.id, repeat('6', 64) from k;
       set constraints all immediate;
     end
     $x$ $$,
  'a key with its hash is accepted');
select is(
  (select user_id from public.spend_credits(repeat('6', 64), 0, 'sqltest-auth')),
  '00000000-0000-4000-8000-00000000000a'::uuid,
  'spend_credits authenticates a key by the hash in private.api_key_hashes');
select is(
  (select count(*) from private.api_key_hashes h
    where not exists (select 1 from public.api_keys k where k.id = h.key_id)),
  0::bigint, 'no orphan hash');

select * from finish();
rollback;
