-- Batch-job workers: each step of an item is one SQL call instead of five to eight statements.
--
-- private.start_job_item   politeness (spacing slot, 429 back-off) + item running + job running
-- private.finish_job_item  item final + refund of a failure + job counters + job end + webhook
-- private.finish_job_if_done  the job's end (final status, finished_at, webhook task), shared by
--                             finish_job_item and the cancel path
--
-- Same rules as the Python they replace (app/queries/jobs.py): a job's row is locked before its
-- items', an item in a final state is never changed, a failed item is refunded once
-- (refund_credits(charge_ref, 1, '<job>:<item>')), and a job ends (and queues its webhook) once.
-- Called only by the job workers and the API (service role); never by API roles.

create function private.finish_job_if_done(
  p_job_id uuid,
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
begin
  update public.jobs j
     set finished_at = now(),
         status = case when j.status = 'cancelled' then 'cancelled'
                       when j.items_succeeded > 0 then 'completed' else 'failed' end
   where j.id = p_job_id
     and j.finished_at is null
     and j.items_succeeded + j.items_failed + j.items_cancelled >= j.items_total
  returning j.* into v_job;
  if not found then
    return query select j.* from public.jobs j where j.id = p_job_id;
    return;
  end if;
  if v_job.webhook_url is not null and v_job.webhook_url <> '' then
    perform procrastinate.procrastinate_defer_jobs_v1(array[
      row(p_webhook_queue, p_webhook_task, p_webhook_priority, null, null,
          jsonb_build_object('job_id', v_job.id::text), null)
      ::procrastinate.procrastinate_job_to_defer_v1]);
  end if;
  return next v_job;
end
$$;
comment on function private.finish_job_if_done(uuid, text, text, integer) is
  'Ends a job whose items are all final: status completed/failed (cancelled stays), finished_at, '
  'and its webhook task (queue, task name, priority as given) if it has a webhook_url. Once: '
  'a job already finished, or with items left, is returned unchanged. Call it holding the job '
  'row lock, in the transaction that settled the last item.';

create function private.start_job_item(
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
  v_wait float8;
  v_blocked float8;
begin
  if p_spacing_ms is not null then
    if p_spacing_ms > 0 then
      insert into private.host_politeness as h (host, next_start_at)
      values (p_host, now() + p_spacing_ms * interval '1 millisecond')
      on conflict (host) do update
        set next_start_at = greatest(h.next_start_at, now()) + p_spacing_ms * interval '1 millisecond',
            updated_at = now()
        where h.blocked_until is null or h.blocked_until <= now()
      returning greatest(0, extract(epoch from h.next_start_at - now()) - p_spacing_ms / 1000.0)::float8
        into v_wait;
    end if;
    if v_wait is null then
      select greatest(0, extract(epoch from h.blocked_until - now()))::float8
        into v_blocked
        from private.host_politeness h where h.host = p_host;
      if coalesce(v_blocked, 0) > 0 then
        return query select 'backed_off'::text, v_blocked, null::uuid, null::text, null::text,
                            null::integer;
        return;
      end if;
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
  'it first takes the next start slot of p_host (spacing p_spacing_ms, shared by all workers): '
  'outcome wait (wait_seconds, nothing started: sleep, then call again with null), or '
  'backed_off (wait_seconds left of a 429 back-off: reschedule). Then it marks the item running '
  'and counts the attempt (its job running on the first start): outcome started with job_id, '
  'url, host, attempts; or skipped when the item is final or belongs to another task.';

create function private.finish_job_item(
  p_item_id bigint,
  p_status text,
  p_profile jsonb,
  p_cached boolean,
  p_error_code text,
  p_error_message text,
  p_error_details jsonb,
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
  update public.job_items i
     set status = p_status, profile = p_profile, cached = p_cached,
         error_code = p_error_code, error_message = p_error_message,
         error_details = p_error_details,
         started_at = coalesce(i.started_at, now()), finished_at = now()
   where i.id = p_item_id and i.status in ('queued', 'running');
  if not found then
    return;
  end if;
  if p_status = 'failed' then
    select r.refunded into v_refunded
      from public.refund_credits(v_job.charge_ref, 1, v_job.id::text || ':' || p_item_id::text) r;
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
comment on function private.finish_job_item(bigint, text, jsonb, boolean, text, text, jsonb, text,
                                            text, integer) is
  'Moves an item to succeeded (p_profile, p_cached) or failed (p_error_*), once: an item already '
  'final changes nothing and no row is returned. A failed item is refunded one credit '
  '(refund_credits(charge_ref, 1, ''<job>:<item>'')) in the same transaction; the job''s '
  'counters follow, and the job ends when this was its last item (finish_job_if_done with the '
  'webhook queue, task and priority). Returns the job row.';

revoke all on function private.finish_job_if_done(uuid, text, text, integer)
  from public, anon, authenticated;
revoke all on function private.start_job_item(bigint, bigint, text, integer)
  from public, anon, authenticated;
revoke all on function private.finish_job_item(bigint, text, jsonb, boolean, text, text, jsonb,
                                               text, text, integer)
  from public, anon, authenticated;
grant execute on function private.finish_job_if_done(uuid, text, text, integer) to service_role;
grant execute on function private.start_job_item(bigint, bigint, text, integer) to service_role;
grant execute on function private.finish_job_item(bigint, text, jsonb, boolean, text, text, jsonb,
                                                  text, text, integer) to service_role;
