-- Batch-job item steps (20261129130000_job_item_steps.sql) with the job parts of
-- 20261129150000_posts_growth.sql and the API-host politeness of the job workers:
--
-- private.take_host_slot   the politeness step alone (spacing slot, 429 back-off), shared by
--                          start_job_item (the item's own host) and the workers' gate for the API
--                          hosts a source calls (app/jobs/politeness.py)
-- private.start_job_item   unchanged behaviour, its politeness now through take_host_slot
-- private.finish_job_item  also records the posts part (posts, posts_error_code/_message) and
--                          refunds the credits of the item's failed parts (p_refund, at most the
--                          item's price profile_cost + posts_cost) instead of always 1 credit,
--                          still in one refund row per item, ref '<job>:<item>', so once.
-- The old ten-argument finish_job_item is dropped: its 1-credit refund is wrong for a job whose
-- item price is not 1 (posts included).

create function private.take_host_slot(p_host text, p_spacing_ms integer)
returns table (backed_off boolean, wait_seconds float8)
language plpgsql
set search_path = ''
as $$
declare
  v_wait float8;
  v_blocked float8;
begin
  if p_spacing_ms > 0 then
    insert into private.host_politeness as h (host, next_start_at)
    values (p_host, now() + p_spacing_ms * interval '1 millisecond')
    on conflict (host) do update
      set next_start_at = greatest(h.next_start_at, now()) + p_spacing_ms * interval '1 millisecond',
          updated_at = now()
      where h.blocked_until is null or h.blocked_until <= now()
    returning greatest(0, extract(epoch from h.next_start_at - now()) - p_spacing_ms / 1000.0)::float8
      into v_wait;
    if v_wait is not null then
      return query select false, v_wait;
      return;
    end if;
  end if;
  select greatest(0, extract(epoch from h.blocked_until - now()))::float8
    into v_blocked
    from private.host_politeness h where h.host = p_host;
  return query select coalesce(v_blocked, 0) > 0, coalesce(v_blocked, 0)::float8;
end
$$;
comment on function private.take_host_slot(text, integer) is
  'Politeness for one request to p_host, shared by all workers: with p_spacing_ms > 0 takes the '
  'host''s next start slot (p_spacing_ms apart) and answers (false, seconds to wait first); '
  'while the host is backed off after a 429 answers (true, seconds of back-off left) and takes '
  'no slot. With p_spacing_ms 0 only the back-off is checked.';

create or replace function private.start_job_item(
  p_item_id bigint,
  p_task_id bigint,
  p_host text,
  p_spacing_ms integer
)
returns table (outcome text, wait_seconds float8, job_id uuid, url text, host text,
               attempts integer)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_backed_off boolean;
  v_wait float8;
begin
  if p_spacing_ms is not null then
    select s.backed_off, s.wait_seconds into v_backed_off, v_wait
      from private.take_host_slot(p_host, p_spacing_ms) s;
    if v_backed_off then
      return query select 'backed_off'::text, v_wait, null::uuid, null::text, null::text,
                          null::integer;
      return;
    elsif v_wait > 0 then
      return query select 'wait'::text, v_wait, null::uuid, null::text, null::text, null::integer;
      return;
    end if;
  end if;

  -- Lock order as everywhere: the job row before its items' rows. A job still queued is about
  -- to become running, so lock it first; a cancel holding it then goes first, and this start
  -- finds the item cancelled instead of deadlocking with it.
  perform 1 from public.jobs j
   where j.id = (select i.job_id from public.job_items i where i.id = p_item_id)
     and j.status = 'queued'
     for update;

  return query
  with started as (
    update public.job_items i
       set status = 'running', attempts = i.attempts + 1,
           started_at = coalesce(i.started_at, now())
     where i.id = p_item_id and i.task_id = p_task_id and i.status in ('queued', 'running')
    returning i.job_id, i.url, i.host, i.attempts
  ), job as (
    update public.jobs j set status = 'running', started_at = now()
     where j.id = (select s.job_id from started s) and j.status = 'queued'
  )
  select 'started'::text, 0::float8, s.job_id, s.url, s.host, s.attempts from started s;
  if not found then
    return query select 'skipped'::text, 0::float8, null::uuid, null::text, null::text,
                        null::integer;
  end if;
end
$$;
comment on function private.start_job_item(bigint, bigint, text, integer) is
  'A worker starts item p_item_id of task p_task_id. With p_spacing_ms (null: skip politeness) '
  'it first takes the next start slot of p_host (take_host_slot): outcome wait (wait_seconds, '
  'nothing started: sleep, then call again with null), or backed_off (wait_seconds left of a '
  '429 back-off: reschedule). Then it marks the item running and counts the attempt (its job '
  'running on the first start): outcome started with job_id, url, host, attempts; or skipped '
  'when the item is final or belongs to another task.';

drop function private.finish_job_item(bigint, text, jsonb, boolean, text, text, jsonb, text, text,
                                      integer);

create function private.finish_job_item(
  p_item_id bigint,
  p_status text,
  p_profile jsonb,
  p_cached boolean,
  p_error_code text,
  p_error_message text,
  p_error_details jsonb,
  p_posts jsonb,
  p_posts_error_code text,
  p_posts_error_message text,
  p_refund integer,
  p_webhook_queue text,
  p_webhook_task text,
  p_webhook_priority integer
)
returns setof public.jobs
language plpgsql
set search_path = ''
as $$
declare
  v_job public.jobs;
  v_refund integer;
  v_refunded bigint := 0;
begin
  if p_status not in ('succeeded', 'failed') then
    raise exception 'not a final item status: %', p_status using errcode = '22023';
  end if;
  select j.* into v_job from public.jobs j
   where j.id = (select i.job_id from public.job_items i where i.id = p_item_id)
     for update;
  if not found then
    return;
  end if;
  v_refund := coalesce(p_refund, case when p_status = 'failed'
                                      then v_job.profile_cost + v_job.posts_cost else 0 end);
  if v_refund < 0 or v_refund > v_job.profile_cost + v_job.posts_cost then
    raise exception 'refund % is outside 0..% (the item''s price)', v_refund,
      v_job.profile_cost + v_job.posts_cost using errcode = '22023';
  end if;
  update public.job_items i
     set status = p_status, profile = p_profile, cached = p_cached,
         error_code = p_error_code, error_message = p_error_message,
         error_details = p_error_details, posts = p_posts,
         posts_error_code = p_posts_error_code, posts_error_message = p_posts_error_message,
         started_at = coalesce(i.started_at, now()), finished_at = now()
   where i.id = p_item_id and i.status in ('queued', 'running');
  if not found then
    return;
  end if;
  if v_refund > 0 then
    select r.refunded into v_refunded
      from public.refund_credits(v_job.charge_ref, v_refund,
                                 v_job.id::text || ':' || p_item_id::text) r;
  end if;
  update public.jobs j
     set items_succeeded = j.items_succeeded + (p_status = 'succeeded')::integer,
         items_failed = j.items_failed + (p_status = 'failed')::integer,
         credits_refunded = j.credits_refunded + v_refunded
   where j.id = v_job.id;
  return query
    select * from private.finish_job_if_done(v_job.id, p_webhook_queue, p_webhook_task,
                                             p_webhook_priority);
end
$$;
comment on function private.finish_job_item(bigint, text, jsonb, boolean, text, text, jsonb,
                                            jsonb, text, text, integer, text, text, integer) is
  'Moves an item to succeeded or failed, once, with both parts: the profile part (p_profile, '
  'p_cached, or p_error_*) and the posts part (p_posts or p_posts_error_*). An item already '
  'final changes nothing and no row is returned. p_refund credits (null: the item''s whole '
  'price profile_cost + posts_cost when failed, else 0; at most that price) go back with '
  'refund_credits(charge_ref, p_refund, ''<job>:<item>'') in the same transaction, so once. '
  'The job''s counters follow, and the job ends when this was its last item '
  '(finish_job_if_done with the webhook queue, task and priority). Returns the job row.';

revoke all on function private.take_host_slot(text, integer) from public, anon, authenticated;
revoke all on function private.start_job_item(bigint, bigint, text, integer)
  from public, anon, authenticated;
revoke all on function private.finish_job_item(bigint, text, jsonb, boolean, text, text, jsonb,
                                               jsonb, text, text, integer, text, text, integer)
  from public, anon, authenticated;
grant execute on function private.take_host_slot(text, integer) to service_role;
grant execute on function private.start_job_item(bigint, bigint, text, integer) to service_role;
grant execute on function private.finish_job_item(bigint, text, jsonb, boolean, text, text, jsonb,
                                                  jsonb, text, text, integer, text, text, integer)
  to service_role;
