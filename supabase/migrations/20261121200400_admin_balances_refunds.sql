-- admin.credit_balances: count refunded purchases (ledger reason purchase_refund, written by
-- public.revoke_credits) as their own column, and net them out of lifetime_purchased.

create or replace view admin.credit_balances with (security_invoker = true) as
select p.id as user_id,
       p.email,
       p.plan,
       b.balance,
       coalesce(sum(l.delta) filter (where l.reason in ('purchase', 'purchase_refund')), 0)
         as lifetime_purchased,
       coalesce(sum(l.delta) filter (where l.delta > 0 and l.reason not in ('purchase', 'refund')), 0)
         as lifetime_granted,
       coalesce(-sum(l.delta) filter (where l.reason in ('usage', 'refund')), 0) as lifetime_spent,
       max(l.created_at) filter (where l.reason = 'usage') as last_usage_at,
       coalesce(-sum(l.delta) filter (where l.reason = 'purchase_refund'), 0)
         as lifetime_purchase_refunded
  from public.profiles p
  join public.credit_balances b on b.user_id = p.id
  left join public.credit_ledger l on l.user_id = p.id
 group by p.id, p.email, p.plan, b.balance;
comment on view admin.credit_balances is
  'Per user: balance, lifetime purchased credits net of refunded purchases, granted credits, net '
  'credits spent (usage - refunds), and credits taken back for refunded purchases.';
comment on column admin.credit_balances.lifetime_purchase_refunded is
  'Credits taken back because a Stripe payment was refunded (ledger reason purchase_refund).';
