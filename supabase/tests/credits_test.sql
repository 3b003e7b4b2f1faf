-- Database test for the credit functions and RLS, runnable anywhere the migrations are applied
-- (Supabase: psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f supabase/tests/credits_test.sql).
-- Everything happens in one transaction that is rolled back; a failed check raises.
begin;

insert into auth.users (id, email)
values ('00000000-0000-4000-8000-00000000000a', 'sqltest-a@example.com'),
       ('00000000-0000-4000-8000-00000000000b', 'sqltest-b@example.com');

insert into public.api_keys (user_id, name, key_hash, prefix)
values ('00000000-0000-4000-8000-00000000000a', 'sql', repeat('a', 64), 'cs_live_sqlA');

select public.grant_credits('00000000-0000-4000-8000-00000000000a', 3, 'admin_grant', 'sqltest-g1');

do $$
declare
  v_balance bigint;
  v_state text;
begin
  -- three spends succeed, the fourth is refused with CS004
  for i in 1..3 loop
    perform public.spend_credits(repeat('a', 64), 1, 'sqltest-s' || i);
  end loop;
  begin
    perform public.spend_credits(repeat('a', 64), 1, 'sqltest-s4');
    raise exception 'expected insufficient credits';
  exception when others then
    get stacked diagnostics v_state = returned_sqlstate;
    if v_state <> 'CS004' then raise exception 'expected CS004, got %', v_state; end if;
  end;

  -- a refund applies once
  perform public.refund_credits('sqltest-s1');
  perform public.refund_credits('sqltest-s1');
  select balance into v_balance from public.credit_balances
   where user_id = '00000000-0000-4000-8000-00000000000a';
  if v_balance <> 1 then raise exception 'expected balance 1, got %', v_balance; end if;

  -- the ledger explains the balance
  if (select sum(delta) from public.credit_ledger
       where user_id = '00000000-0000-4000-8000-00000000000a') <> v_balance then
    raise exception 'ledger does not sum to the balance';
  end if;
end
$$;

-- RLS: user B sees none of A's rows and cannot write balances.
set local role authenticated;
select set_config('request.jwt.claims',
                  '{"sub": "00000000-0000-4000-8000-00000000000b", "role": "authenticated"}', true);
do $$
begin
  if exists (select 1 from public.credit_ledger) then
    raise exception 'user B can see ledger rows that are not theirs';
  end if;
  if exists (select 1 from public.api_keys) then
    raise exception 'user B can see keys that are not theirs';
  end if;
  begin
    update public.credit_balances set balance = 1000;
    raise exception 'authenticated could update balances';
  exception when insufficient_privilege then
    null;
  end;
end
$$;

rollback;
