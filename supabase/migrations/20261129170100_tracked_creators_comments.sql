-- Studio comments for the columns of admin.tracked_creators (every admin-facing column says
-- what it is).

comment on column admin.tracked_creators.platform is 'Platform of the creator (youtube, x, web...).';
comment on column admin.tracked_creators.handle is
  'The creator''s key on the platform: handle, channel/<id>, user@server, or the site''s '
  'origin and path for personal sites.';
comment on column admin.tracked_creators.snapshots is
  'Growth snapshots kept for the creator (at most one per hour, bounded per creator).';
comment on column admin.tracked_creators.first_snapshot_at is 'When the oldest kept snapshot was fetched.';
comment on column admin.tracked_creators.last_snapshot_at is 'When the newest snapshot was fetched.';
comment on column admin.tracked_creators.followers is
  'Follower count of the newest snapshot that has one (null when none does).';
comment on column admin.tracked_creators.lookups_30d is
  'Paid, succeeded lookups of this creator (profile, posts or history) in the last 30 days.';
comment on column admin.tracked_creators.hours_between_snapshots is
  'Mean hours between kept snapshots (null with a single snapshot).';
