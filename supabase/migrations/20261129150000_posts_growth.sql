-- Recent posts and growth history (issue 12).
--
-- * public.creator_lookups gains a kind: profile (GET /v1/creators/profile), posts
--   (GET /v1/creators/posts) or history (GET /v1/creators/history). Every paid call of every kind
--   goes through the same charge -> settle-or-refund flow: begin_creator_lookup charges and
--   records a pending row, settle_posts_lookup / settle_creator_lookup mark it succeeded, and
--   public.refund_profile_lookup / public.sweep_orphaned_lookups refund it exactly once (they
--   work on any kind: they only read request_id, status and credits_charged).
-- * public.creator_posts caches each creator's newest posts (service only; own TTL).
-- * public.creator_growth_snapshots holds the growth series: at most one row per creator and UTC
--   hour, written by every stored profile snapshot (trigger) and every posts lookup.
--   Storage per creator is bounded: hourly rows for 30 days, then the last row of each UTC day,
--   nothing older than 730 days: at most 720 + 700 = 1,420 rows per creator.
-- * admin.tracked_creators shows admins which creators are tracked and how often.

-- ---------------------------------------------------------------------------------------------
alter table public.creator_lookups
  add column kind text not null default 'profile' check (kind in ('profile', 'posts', 'history'));
comment on column public.creator_lookups.kind is
  'What was bought: profile (GET /v1/creators/profile), posts (GET /v1/creators/posts) or history '
  '(GET /v1/creators/history). Only profile lookups point at a profile snapshot.';
-- A succeeded profile lookup must name its snapshot; posts and history lookups have none.
alter table public.creator_lookups drop constraint creator_lookups_check1;
alter table public.creator_lookups add constraint creator_lookups_snapshot_check
  check (kind <> 'profile' or status <> 'succeeded' or snapshot_id is not null);

-- ---------------------------------------------------------------------------------------------
create table public.creator_posts (
  platform text not null check (platform ~ '^[a-z]{1,20}$'),
  handle text not null check (char_length(handle) between 1 and 300),
  data jsonb not null,
  fetched_at timestamptz not null,
  primary key (platform, handle)
);
comment on table public.creator_posts is
  'Cache of each creator''s newest posts (up to 50) as the posts sources returned them, keyed as '
  'public.creator_profiles. Served for POSTS_CACHE_TTL seconds. Service-only: users see what they '
  'paid for in the API answer.';
comment on column public.creator_posts.data is
  'The posts JSON: {"posts": [...], "followers": exact follower count or null, "source": name}.';
comment on column public.creator_posts.fetched_at is 'When the posts were fetched.';
alter table public.creator_posts enable row level security;
revoke all on public.creator_posts from anon, authenticated;
grant all on public.creator_posts to service_role;

-- ---------------------------------------------------------------------------------------------
create table public.creator_growth_snapshots (
  id bigint generated always as identity primary key,
  platform text not null check (platform ~ '^[a-z]{1,20}$'),
  handle text not null check (char_length(handle) between 1 and 300),
  bucket timestamptz not null,
  fetched_at timestamptz not null,
  followers bigint check (followers >= 0),
  following bigint check (following >= 0),
  posts bigint check (posts >= 0),
  likes bigint check (likes >= 0),
  avg_views double precision check (avg_views >= 0),
  constraint creator_growth_snapshots_hour_key unique (platform, handle, bucket)
);
comment on table public.creator_growth_snapshots is
  'Growth history of each creator, from our own successful lookups: at most one row per creator '
  'and UTC hour; hourly for 30 days, then the last row of each UTC day, none older than 730 days '
  '(at most 1,420 rows per creator). Service-only; read through GET /v1/creators/history.';
comment on column public.creator_growth_snapshots.handle is
  'Identity of the creator (as creator_profile_snapshots.handle).';
comment on column public.creator_growth_snapshots.bucket is
  'The UTC hour of fetched_at: the deduplication key (one row per creator and hour).';
comment on column public.creator_growth_snapshots.fetched_at is
  'When the newest data merged into this row was fetched.';
comment on column public.creator_growth_snapshots.avg_views is
  'Mean views of the newest 12 own posts, from a posts lookup (null when unknown).';
comment on constraint creator_growth_snapshots_hour_key on public.creator_growth_snapshots is
  'One row per creator and hour; also the index of the history query (platform, handle, bucket).';
alter table public.creator_growth_snapshots enable row level security;
revoke all on public.creator_growth_snapshots from anon, authenticated;
grant all on public.creator_growth_snapshots to service_role;

-- ---------------------------------------------------------------------------------------------
create function public.record_creator_growth(
  p_platform text, p_handle text, p_fetched_at timestamptz, p_followers bigint,
  p_following bigint, p_posts bigint, p_likes bigint, p_avg_views double precision
)
returns void
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_bucket timestamptz := date_trunc('hour', p_fetched_at, 'UTC');
begin
  if coalesce(p_followers, p_following, p_posts, p_likes) is null and p_avg_views is null then
    return;
  end if;
  -- Within one hour the newer value wins and a known value is never replaced by an unknown one.
  insert into public.creator_growth_snapshots as s
    (platform, handle, bucket, fetched_at, followers, following, posts, likes, avg_views)
  values
    (p_platform, p_handle, v_bucket, p_fetched_at, p_followers, p_following, p_posts, p_likes,
     p_avg_views)
  on conflict (platform, handle, bucket) do update set
    fetched_at = greatest(s.fetched_at, excluded.fetched_at),
    followers = case when excluded.fetched_at >= s.fetched_at
                     then coalesce(excluded.followers, s.followers)
                     else coalesce(s.followers, excluded.followers) end,
    following = case when excluded.fetched_at >= s.fetched_at
                     then coalesce(excluded.following, s.following)
                     else coalesce(s.following, excluded.following) end,
    posts = case when excluded.fetched_at >= s.fetched_at
                 then coalesce(excluded.posts, s.posts)
                 else coalesce(s.posts, excluded.posts) end,
    likes = case when excluded.fetched_at >= s.fetched_at
                 then coalesce(excluded.likes, s.likes)
                 else coalesce(s.likes, excluded.likes) end,
    avg_views = case when excluded.fetched_at >= s.fetched_at
                     then coalesce(excluded.avg_views, s.avg_views)
                     else coalesce(s.avg_views, excluded.avg_views) end;
  -- The storage bound: older than 30 days, only the last row of each UTC day; none after 730.
  delete from public.creator_growth_snapshots s
   where s.platform = p_platform and s.handle = p_handle
     and s.bucket < now() - interval '30 days'
     and (s.bucket < now() - interval '730 days'
          or exists (
            select 1 from public.creator_growth_snapshots n
             where n.platform = s.platform and n.handle = s.handle and n.bucket > s.bucket
               and n.bucket < date_trunc('day', s.bucket, 'UTC') + interval '1 day'));
end
$$;
comment on function public.record_creator_growth(
  text, text, timestamptz, bigint, bigint, bigint, bigint, double precision
) is
  'Records one growth point of a creator in its UTC hour (merging with the hour''s row: newer '
  'known values win) and prunes the creator''s older rows to the documented bound. Service only.';

create function private.json_count(p_value jsonb)
returns bigint
language sql
immutable
set search_path = ''
as $$
  select case when jsonb_typeof(p_value) = 'number' and (p_value #>> '{}') ~ '^[0-9]{1,18}$'
              then (p_value #>> '{}')::bigint end
$$;
comment on function private.json_count(jsonb) is
  'A JSON number as a non-negative bigint count; anything else (null, text, negative) is null.';

create function private.creator_profile_snapshots_growth()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  perform public.record_creator_growth(
    new.platform, new.handle, new.fetched_at,
    private.json_count(new.data -> 'followers'), private.json_count(new.data -> 'following'),
    private.json_count(new.data -> 'posts'), private.json_count(new.data -> 'likes'), null);
  return null;
end
$$;
comment on function private.creator_profile_snapshots_growth() is
  'Trigger: every stored profile snapshot (single lookups and batch jobs) is a growth point.';
create trigger creator_profile_snapshots_growth
  after insert on public.creator_profile_snapshots
  for each row execute function private.creator_profile_snapshots_growth();

-- ---------------------------------------------------------------------------------------------
create function public.begin_creator_lookup(
  p_key_hash text, p_request_id text, p_kind text, p_platform text, p_handle text,
  p_max_age integer, p_cost integer
)
returns table (
  user_id uuid, api_key_id uuid, plan text, balance bigint, credits_charged integer,
  cached boolean, data jsonb, fetched_at timestamptz, followers bigint
)
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_data jsonb;
  v_fetched_at timestamptz;
  v_followers bigint;
  v_user uuid;
  v_key uuid;
  v_plan text;
  v_balance bigint;
begin
  if p_kind not in ('posts', 'history') then
    raise exception 'p_kind must be posts or history' using errcode = '22023';
  end if;
  if p_kind = 'posts' then
    if p_max_age > 0 then
      select c.data, c.fetched_at into v_data, v_fetched_at
        from public.creator_posts c
       where c.platform = p_platform and c.handle = p_handle
         and c.fetched_at > now() - make_interval(secs => p_max_age);
    end if;
    -- The cached profile's follower count, when exact, for the engagement rate.
    select private.json_count(c.data -> 'followers') into v_followers
      from public.creator_profiles c
     where c.platform = p_platform and c.handle = p_handle
       and coalesce(c.data ->> 'counts_approximate', 'false') = 'false';
  end if;

  select s.user_id, s.api_key_id, s.plan, s.balance into v_user, v_key, v_plan, v_balance
    from public.spend_credits(p_key_hash, p_cost, p_request_id) s;

  insert into public.creator_lookups
    (request_id, user_id, api_key_id, kind, platform, handle, credits_charged, cached, status,
     settled_at)
  values
    (p_request_id, v_user, v_key, p_kind, p_platform, p_handle, p_cost, v_data is not null,
     case when v_data is null then 'pending' else 'succeeded' end,
     case when v_data is null then null else now() end);

  return query select v_user, v_key, v_plan, v_balance, p_cost, v_data is not null, v_data,
                      v_fetched_at, v_followers;
end
$$;
comment on function public.begin_creator_lookup(text, text, text, text, text, integer, integer) is
  'One round trip for a posts or history call: for posts, reads the posts cache if at most '
  'p_max_age seconds old and the cached profile''s exact follower count; authenticates the key '
  'and takes p_cost credits through public.spend_credits (ledger ref p_request_id); records the '
  'lookup (succeeded for a posts cache hit, else pending until settle_posts_lookup, '
  'settle_creator_lookup or refund_profile_lookup). Errors: those of spend_credits.';

-- Posts outside a paid lookup (batch job items): cache and growth point, no lookup row.
create function public.store_creator_posts(
  p_platform text, p_handle text, p_data jsonb, p_fetched_at timestamptz, p_followers bigint,
  p_avg_views double precision
)
returns void
language plpgsql
security invoker
set search_path = ''
as $$
begin
  insert into public.creator_posts as c (platform, handle, data, fetched_at)
  values (p_platform, p_handle, p_data, p_fetched_at)
  on conflict (platform, handle) do update
    set data = excluded.data, fetched_at = excluded.fetched_at
    where c.fetched_at <= excluded.fetched_at;
  perform public.record_creator_growth(
    p_platform, p_handle, p_fetched_at, p_followers, null, null, null, p_avg_views);
end
$$;
comment on function public.store_creator_posts(text, text, jsonb, timestamptz, bigint, double precision) is
  'Caches a creator''s fetched posts (unless newer ones are cached) and records a growth point. '
  'Used by batch job items and by settle_posts_lookup. Service only.';
revoke execute on function public.store_creator_posts(
  text, text, jsonb, timestamptz, bigint, double precision
) from public, anon, authenticated;
grant execute on function public.store_creator_posts(
  text, text, jsonb, timestamptz, bigint, double precision
) to service_role;

create function public.settle_posts_lookup(
  p_request_id text, p_platform text, p_handle text, p_data jsonb, p_fetched_at timestamptz,
  p_followers bigint, p_avg_views double precision
)
returns boolean
language plpgsql
security invoker
set search_path = ''
as $$
begin
  update public.creator_lookups l
     set status = 'succeeded', settled_at = now()
   where l.request_id = p_request_id and l.status = 'pending' and l.kind = 'posts';
  if not found then
    return false;
  end if;
  perform public.store_creator_posts(
    p_platform, p_handle, p_data, p_fetched_at, p_followers, p_avg_views);
  return true;
end
$$;
comment on function public.settle_posts_lookup(
  text, text, text, jsonb, timestamptz, bigint, double precision
) is
  'Ends a pending posts lookup with its fetched posts, in one transaction: marks it succeeded, '
  'caches the posts and records a growth point (followers, avg_views). false, changing nothing, '
  'when the lookup was no longer pending (refunded meanwhile, e.g. by the orphan sweep).';

create function public.settle_creator_lookup(p_request_id text)
returns boolean
language plpgsql
security invoker
set search_path = ''
as $$
begin
  update public.creator_lookups l
     set status = 'succeeded', settled_at = now()
   where l.request_id = p_request_id and l.status = 'pending' and l.kind = 'history';
  return found;
end
$$;
comment on function public.settle_creator_lookup(text) is
  'Marks a pending history lookup succeeded (its answer was returned). false when it was no '
  'longer pending (already refunded).';

-- ---------------------------------------------------------------------------------------------
create view admin.tracked_creators with (security_invoker = true) as
select g.platform,
       g.handle,
       count(*) as snapshots,
       min(g.fetched_at) as first_snapshot_at,
       max(g.fetched_at) as last_snapshot_at,
       (array_agg(g.followers order by g.bucket desc) filter (where g.followers is not null))[1]
         as followers,
       (select count(*) from public.creator_lookups l
         where l.platform = g.platform and l.handle = g.handle and l.status = 'succeeded'
           and l.created_at > now() - interval '30 days') as lookups_30d,
       round(extract(epoch from max(g.fetched_at) - min(g.fetched_at))
             / 3600 / nullif(count(*) - 1, 0), 1) as hours_between_snapshots
  from public.creator_growth_snapshots g
 group by g.platform, g.handle;
comment on view admin.tracked_creators is
  'Creators with a growth history: snapshots kept, first and last, latest follower count, paid '
  'lookups of any kind in the last 30 days, and the mean hours between kept snapshots.';
revoke all on admin.tracked_creators from public, anon, authenticated;
grant select on admin.tracked_creators to service_role;
create index creator_lookups_creator_idx on public.creator_lookups (platform, handle, created_at);
comment on index public.creator_lookups_creator_idx is
  'Lookups of one creator over time (admin.tracked_creators).';

-- ---------------------------------------------------------------------------------------------
revoke execute on function public.record_creator_growth(
  text, text, timestamptz, bigint, bigint, bigint, bigint, double precision
) from public, anon, authenticated;
revoke execute on function public.begin_creator_lookup(text, text, text, text, text, integer, integer)
  from public, anon, authenticated;
revoke execute on function public.settle_posts_lookup(
  text, text, text, jsonb, timestamptz, bigint, double precision
) from public, anon, authenticated;
revoke execute on function public.settle_creator_lookup(text) from public, anon, authenticated;
revoke execute on function private.json_count(jsonb) from public, anon, authenticated;
revoke execute on function private.creator_profile_snapshots_growth()
  from public, anon, authenticated;
grant execute on function public.record_creator_growth(
  text, text, timestamptz, bigint, bigint, bigint, bigint, double precision
) to service_role;
grant execute on function public.begin_creator_lookup(text, text, text, text, text, integer, integer)
  to service_role;
grant execute on function public.settle_posts_lookup(
  text, text, text, jsonb, timestamptz, bigint, double precision
) to service_role;
grant execute on function public.settle_creator_lookup(text) to service_role;
grant execute on function private.json_count(jsonb) to service_role;

-- ---------------------------------------------------------------------------------------------
-- Batch jobs with "include": ["profile", "posts"]: priced and refunded per part.
alter table public.jobs
  add column include text[] not null default '{profile}'
    check (cardinality(include) between 1 and 2 and include <@ array['profile', 'posts']::text[]),
  add column profile_cost integer not null default 1 check (profile_cost >= 0),
  add column posts_cost integer not null default 0 check (posts_cost >= 0);
comment on column public.jobs.include is
  'Parts looked up for every URL: profile and/or posts (POST /v1/jobs/create "include").';
comment on column public.jobs.profile_cost is
  'Credits per item for the profile part (0 when not included); refunded when that part fails.';
comment on column public.jobs.posts_cost is
  'Credits per item for the posts part (POSTS_COST when included, else 0); refunded when that '
  'part fails or finds no posts.';
comment on column public.jobs.credits_charged is
  'Credits reserved at creation: (profile_cost + posts_cost) per accepted URL.';

alter table public.job_items
  add column posts jsonb,
  add column posts_error_code text,
  add column posts_error_message text;
comment on column public.job_items.posts is
  'The posts part''s answer (as GET /v1/creators/posts data, newest 12 posts) when it succeeded.';
comment on column public.job_items.posts_error_code is
  'Why the posts part failed (its credits refunded): posts_not_available, no_posts, or an '
  'upstream error code.';
comment on column public.job_items.posts_error_message is 'Message of posts_error_code.';
-- An item succeeds when any included part succeeded (was: when it had a profile).
alter table public.job_items drop constraint job_items_check;
alter table public.job_items add constraint job_items_result_check
  check ((status = 'succeeded') = (profile is not null or posts is not null));
comment on table public.jobs is
  'Batch lookups (POST /v1/jobs/create): (profile_cost + posts_cost) credits per URL reserved up '
  'front; each failed part of an item, and each cancelled item, refunded once (one refund row per '
  'item, ref <job id>:<item id>).';
