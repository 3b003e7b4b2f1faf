-- Growth snapshots remember the platform's own user id when a lookup learnt it (follow-up of
-- issue 12). The series stays keyed by (platform, handle, bucket), the cache key every lookup
-- uses; platform_user_id shows which account the handle named at each point (a renamed or
-- re-registered handle shows as a change of id).

alter table public.creator_growth_snapshots
  add column platform_user_id text check (char_length(platform_user_id) between 1 and 300);
comment on column public.creator_growth_snapshots.platform_user_id is
  'The platform''s stable id of the account (YouTube channel id, Bluesky DID, X/Twitch/Instagram '
  'user id, Mastodon account id on its server) when the lookup learnt it; null when unknown.';

-- The recorder gains p_platform_user_id (last, default null: callers that do not know it keep
-- their 8 arguments). Within one hour the newer known id wins, as for the counts.
drop function public.record_creator_growth(
  text, text, timestamptz, bigint, bigint, bigint, bigint, double precision
);
create function public.record_creator_growth(
  p_platform text, p_handle text, p_fetched_at timestamptz, p_followers bigint,
  p_following bigint, p_posts bigint, p_likes bigint, p_avg_views double precision,
  p_platform_user_id text default null
)
returns void
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_bucket timestamptz := date_trunc('hour', p_fetched_at, 'UTC');
  v_user_id text := nullif(left(p_platform_user_id, 300), '');
begin
  if coalesce(p_followers, p_following, p_posts, p_likes) is null and p_avg_views is null then
    return;
  end if;
  -- Within one hour the newer value wins and a known value is never replaced by an unknown one.
  insert into public.creator_growth_snapshots as s
    (platform, handle, bucket, fetched_at, followers, following, posts, likes, avg_views,
     platform_user_id)
  values
    (p_platform, p_handle, v_bucket, p_fetched_at, p_followers, p_following, p_posts, p_likes,
     p_avg_views, v_user_id)
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
                     else coalesce(s.avg_views, excluded.avg_views) end,
    platform_user_id = case when excluded.fetched_at >= s.fetched_at
                            then coalesce(excluded.platform_user_id, s.platform_user_id)
                            else coalesce(s.platform_user_id, excluded.platform_user_id) end;
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
  text, text, timestamptz, bigint, bigint, bigint, bigint, double precision, text
) is
  'Records one growth point of a creator in its UTC hour (merging with the hour''s row: newer '
  'known values win, platform_user_id included) and prunes the creator''s older rows to the '
  'documented bound. Service only.';
revoke execute on function public.record_creator_growth(
  text, text, timestamptz, bigint, bigint, bigint, bigint, double precision, text
) from public, anon, authenticated;
grant execute on function public.record_creator_growth(
  text, text, timestamptz, bigint, bigint, bigint, bigint, double precision, text
) to service_role;

-- Profile snapshots: the profile's platform_user_id.
create or replace function private.creator_profile_snapshots_growth()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  perform public.record_creator_growth(
    new.platform, new.handle, new.fetched_at,
    private.json_count(new.data -> 'followers'), private.json_count(new.data -> 'following'),
    private.json_count(new.data -> 'posts'), private.json_count(new.data -> 'likes'), null,
    new.data ->> 'platform_user_id');
  return null;
end
$$;

-- Posts (batch items and settle_posts_lookup): the posts JSON's platform_user_id.
create or replace function public.store_creator_posts(
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
    p_platform, p_handle, p_fetched_at, p_followers, null, null, null, p_avg_views,
    p_data ->> 'platform_user_id');
end
$$;
comment on column public.creator_posts.data is
  'The posts JSON: {"posts": [...], "followers": exact follower count or null, "source": name, '
  '"platform_user_id": the platform''s id of the account or null}.';
