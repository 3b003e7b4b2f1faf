-- Studio comments for the columns of the malformed-event and signup-blocklist tables that their
-- migrations left without one (every admin-facing column says what it is).

comment on column private.signup_blocked_domains.domain is
  'Blocked e-mail domain, lower case, without "@" (e.g. mailinator.com); its subdomains are '
  'blocked too.';
comment on column private.stripe_malformed_events.payload_bytes is
  'Size of the raw body, in bytes.';
comment on column private.stripe_malformed_events.deliveries is
  'How many times Stripe delivered this exact body (each answered 200).';
comment on column private.stripe_malformed_events.first_received_at is
  'When the first delivery of this body arrived.';
comment on column private.stripe_malformed_events.last_received_at is
  'When the latest delivery of this body arrived.';
