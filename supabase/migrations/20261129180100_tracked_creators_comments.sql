-- Column comments for admin.tracked_creators (20261129150000_posts_growth.sql), which admins read
-- in Studio: every admin-facing column says what it holds.

comment on column admin.tracked_creators.platform is
  'Platform of the creator (as in public.creator_growth_snapshots).';
comment on column admin.tracked_creators.handle is
  'Handle of the creator on that platform (the cache key, not the platform''s user id).';
comment on column admin.tracked_creators.snapshots is
  'Growth snapshots kept for the creator (hourly for 30 days, then daily, none after 730 days).';
comment on column admin.tracked_creators.first_snapshot_at is
  'When the oldest kept snapshot was fetched.';
comment on column admin.tracked_creators.last_snapshot_at is
  'When the newest kept snapshot was fetched.';
comment on column admin.tracked_creators.followers is
  'Follower count of the newest snapshot that has one (null when none has).';
comment on column admin.tracked_creators.lookups_30d is
  'Succeeded paid lookups (profile, posts or history) of this creator in the last 30 days.';
comment on column admin.tracked_creators.hours_between_snapshots is
  'Mean hours between kept snapshots (null with a single snapshot).';
