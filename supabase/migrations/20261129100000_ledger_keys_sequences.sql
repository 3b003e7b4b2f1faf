-- Three holes in the ledger and key rules (issue 8, part 4).
--
-- 1. admin.credit_balances missed negative ledger rows whose reason is not usage, refund or
--    purchase_refund (e.g. an admin revocation): its columns did not add up to the balance.
-- 2. Through the Data API a user could insert a key revocation with effective_at in the future
--    (or 'infinity'): the key then counted as "rotating", not active, so users could hold more
--    usable keys than the limit. Revocations inserted as authenticated now take effect at once;
--    only the service side (the API's rotate endpoint) schedules one for later.
-- 3. Sequences in public kept Supabase's default grants to anon and authenticated.

-- ---------------------------------------------------------------------------------------------
-- 1. balance = lifetime_purchased + lifetime_granted - lifetime_spent - lifetime_revoked, for
--    every reason (columns added at the end; the existing ones keep their meaning).
create or replace view admin.credit_balances with (security_invoker = true) as
select p.id as user_id,
       p.email,
       p.plan,
       b.balance,
       coalesce(sum(l.delta) filter (where l.reason in ('purchase', 'purchase_refund')), 0)
         as lifetime_purchased,
       coalesce(sum(l.delta) filter (
         where l.delta > 0 and l.reason not in ('purchase', 'purchase_refund', 'usage', 'refund')
       ), 0) as lifetime_granted,
       coalesce(-sum(l.delta) filter (where l.reason in ('usage', 'refund')), 0) as lifetime_spent,
       max(l.created_at) filter (where l.reason = 'usage') as last_usage_at,
       coalesce(-sum(l.delta) filter (where l.reason = 'purchase_refund'), 0)
         as lifetime_purchase_refunded,
       coalesce(-sum(l.delta) filter (
         where l.delta < 0 and l.reason not in ('purchase', 'purchase_refund', 'usage', 'refund')
       ), 0) as lifetime_revoked
  from public.profiles p
  join public.credit_balances b on b.user_id = p.id
  left join public.credit_ledger l on l.user_id = p.id
 group by p.id, p.email, p.plan, b.balance;
comment on view admin.credit_balances is
  'Per user: balance = lifetime_purchased + lifetime_granted - lifetime_spent - lifetime_revoked, '
  'for every ledger reason. lifetime_purchase_refunded is already netted out of lifetime_purchased.';
comment on column admin.credit_balances.lifetime_purchased is
  'Credits bought (reason purchase) net of refunded purchases (reason purchase_refund).';
comment on column admin.credit_balances.lifetime_granted is
  'Credits added for any other reason (signup_grant, admin_grant, ...).';
comment on column admin.credit_balances.lifetime_spent is 'Net credits spent: usage - refunds.';
comment on column admin.credit_balances.lifetime_revoked is
  'Credits taken back for any reason other than usage and refunded purchases (revoke_credits).';
revoke all on admin.credit_balances from public, anon, authenticated;
grant select on admin.credit_balances to service_role;

-- ---------------------------------------------------------------------------------------------
-- 2. A revocation inserted by the key's owner (role authenticated: the Data API, or our API
--    running as the user) takes effect now, whatever effective_at it asked for. The API's rotate
--    endpoint inserts its grace-period row as the service (app.queries.keys.schedule_rotation).
create function private.revocations_take_effect_now()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if current_user = 'authenticated' then
    new.effective_at := now();
  end if;
  return new;
end
$$;
comment on function private.revocations_take_effect_now() is
  'Before-insert trigger on public.api_key_revocations: a row inserted as authenticated takes '
  'effect now (effective_at := now()); only the service side schedules a revocation for later '
  '(a rotation''s grace period). Security invoker: current_user is the inserting role.';

create trigger api_key_revocations_take_effect_now
  before insert on public.api_key_revocations
  for each row execute function private.revocations_take_effect_now();

revoke execute on function private.revocations_take_effect_now() from public, anon, authenticated;

comment on column public.api_key_revocations.effective_at is
  'When the key stops working: now for every row its owner inserts (forced by a trigger); '
  'now + the rotation grace period only for rotations made by the API as the service.';

-- ---------------------------------------------------------------------------------------------
-- 3. No sequence in public is usable by the API roles (identity columns are filled by the
--    table's own inserts, which need no sequence privilege), now or for sequences created later.
revoke all on all sequences in schema public from anon, authenticated;
alter default privileges in schema public revoke all on sequences from anon, authenticated;
