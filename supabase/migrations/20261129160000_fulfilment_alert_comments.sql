-- Studio comments for the remaining columns of public.stripe_fulfilment_alerts (issue 8's table,
-- issue 10's rule: every column of an admin-facing table says what it is).

comment on column public.stripe_fulfilment_alerts.checkout_session_id is
  'The Stripe Checkout Session (cs_...) that was paid but granted nothing; look it up in the '
  'Stripe dashboard. One alert per session and reason.';
comment on column public.stripe_fulfilment_alerts.event_type is
  'Type of that event: checkout.session.completed or checkout.session.async_payment_succeeded.';
comment on column public.stripe_fulfilment_alerts.expected_currency is
  'Currency we sold it in (stripe_payments.currency), lower-case ISO 4217; null for an unknown '
  'session.';
comment on column public.stripe_fulfilment_alerts.paid_currency is
  'The session''s currency as Stripe sent it (lower-case ISO 4217).';
