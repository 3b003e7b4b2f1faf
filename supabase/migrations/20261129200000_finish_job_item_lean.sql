-- private.finish_job_item, same behaviour, less work on the job row for every item but the
-- last: the counter update returns the row, and private.finish_job_if_done (a second update
-- attempt, then a re-read) runs only when that row says every item is final. The job row is
-- locked from the first statement to the commit, so this shortens the wait of the job's other
-- items finishing at the same time (bench/README.md, "Batch jobs").

create or replace function private.finish_job_item(
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
   where j.id = v_job.id
  returning j.* into v_job;
  if v_job.finished_at is null
     and v_job.items_succeeded + v_job.items_failed + v_job.items_cancelled >= v_job.items_total
  then
    return query
      select * from private.finish_job_if_done(v_job.id, p_webhook_queue, p_webhook_task,
                                               p_webhook_priority);
    return;
  end if;
  return next v_job;
end
$$;
