-- Stripe webhook events that carry a valid signature but not the shape of a Stripe event (too
-- deep, NUL or lone surrogates in a string, an id or type that is not Stripe's, metadata that is
-- not an object). The API records each one here and answers 200, so Stripe stops redelivering;
-- nothing else changes. Admins review them in Studio.

create table private.stripe_malformed_events (
  payload_sha256 text primary key check (payload_sha256 ~ '^[0-9a-f]{64}$'),
  event_id text check (event_id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
  event_type text check (char_length(event_type) <= 100),
  reason text not null,
  payload_bytes integer not null check (payload_bytes >= 0),
  payload_excerpt text not null,
  deliveries integer not null default 1 check (deliveries >= 1),
  first_received_at timestamptz not null default now(),
  last_received_at timestamptz not null default now()
);
comment on table private.stripe_malformed_events is
  'Signed Stripe webhook deliveries that are not a well-formed event: recorded once per body '
  '(redeliveries count up deliveries), answered 200 so Stripe stops retrying, never applied. '
  'Service-only; review in Studio.';
comment on column private.stripe_malformed_events.payload_sha256 is
  'Hex SHA-256 of the raw body: the identity of a delivery (Stripe redelivers the same bytes).';
comment on column private.stripe_malformed_events.event_id is
  'The body''s id when it is a valid Stripe event id, else null.';
comment on column private.stripe_malformed_events.event_type is
  'The body''s type when it is a clean string, else null.';
comment on column private.stripe_malformed_events.reason is
  'Why the event was refused, e.g. "data.object.metadata must be an object".';
comment on column private.stripe_malformed_events.payload_excerpt is
  'The first 4096 characters of the body; NUL and invalid UTF-8 escaped as text.';
alter table private.stripe_malformed_events enable row level security;
revoke all on private.stripe_malformed_events from public, anon, authenticated;
grant select, insert, update on private.stripe_malformed_events to service_role;
