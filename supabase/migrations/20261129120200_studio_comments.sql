-- Comments for admins in Supabase Studio: what each admin-facing object is and how to use it.
-- Covers the admin reports, private.settings, the credit shortfalls, payment disputes, Stripe
-- events (incl. unmatched ones), idempotency records and the columns Studio shows blank otherwise.

-- ---------------------------------------------------------------------------------------------
-- Schemas.
comment on schema admin is
  'Read-only reports for admins (Studio: Table Editor, schema admin; or the SQL editor). Not '
  'exposed to the Data API. Views: credit_balances (one row per user), daily_usage (per user '
  'and UTC day).';
comment on schema private is
  'Internal settings, secrets (API-key hashes, webhook secrets) and bookkeeping used by the API '
  'and SQL functions. Not exposed through the Supabase Data API. Edit only private.settings.';

-- ---------------------------------------------------------------------------------------------
-- private.settings.
comment on table private.settings is
  'Operational settings read by SQL functions, one row per key; edit value in Studio (takes '
  'effect at once). Keys: signup_credits (integer, free credits for each new user; 0 disables '
  'the grant).';
comment on column private.settings.key is 'Setting name (see the table comment for the known keys).';
comment on column private.settings.updated_at is 'When the row was last changed by hand (informational).';

-- ---------------------------------------------------------------------------------------------
-- Admin reports.
comment on view admin.credit_balances is
  'One row per user: balance, lifetime purchased credits net of refunded purchases, granted '
  'credits, net credits spent (usage - refunds), credits taken back for refunded purchases and '
  'the last paid call. Filter by email to answer "where did my credits go?"; the rows behind '
  'each number are in public.credit_ledger.';
comment on column admin.credit_balances.user_id is 'auth.users.id of the account.';
comment on column admin.credit_balances.email is 'E-mail address at sign-up (public.profiles.email).';
comment on column admin.credit_balances.plan is 'Pricing plan (public.profiles.plan).';
comment on column admin.credit_balances.balance is 'Credits available now (public.credit_balances).';
comment on column admin.credit_balances.lifetime_purchased is
  'Credits bought through Stripe, minus credits taken back for refunded purchases.';
comment on column admin.credit_balances.lifetime_granted is
  'Free credits: signup grant, admin grants (flask credits grant) and other positive non-purchase rows.';
comment on column admin.credit_balances.lifetime_spent is 'Credits charged for calls minus refunds of failed calls.';
comment on column admin.credit_balances.last_usage_at is 'Time of the latest paid call (null: never).';

comment on view admin.daily_usage is
  'Per user and UTC day: paid calls, credits charged, refunded and net. Add "where user_id = ..." '
  'for one account; sum over user_id for the whole service. Users see their own rows in '
  'public.daily_usage.';
comment on column admin.daily_usage.user_id is 'auth.users.id of the account.';
comment on column admin.daily_usage.day is 'UTC calendar day of the ledger rows.';
comment on column admin.daily_usage.paid_calls is 'Ledger rows with reason usage (a job counts once).';
comment on column admin.daily_usage.credits_charged is 'Credits taken by those calls.';
comment on column admin.daily_usage.credits_refunded is 'Credits given back that day (failed lookups and job items).';
comment on column admin.daily_usage.credits_spent is 'credits_charged - credits_refunded.';

-- ---------------------------------------------------------------------------------------------
-- Credit shortfalls.
comment on table public.credit_shortfalls is
  'Credits revoke_credits should have taken back but could not (the balance was lower): the '
  'user already spent credits that were refunded. The account is flagged (profiles.flagged_at, '
  'flagged_reason refund_shortfall). To settle one: recover the amount outside the service (or '
  'write it off), then set resolved_at; clear profiles.flagged_at once nothing is open. Open '
  'ones: where resolved_at is null.';
comment on column public.credit_shortfalls.reason is 'The revocation''s ledger reason (e.g. purchase_refund).';
comment on column public.credit_shortfalls.ref is
  'The revocation''s ref: <Stripe charge id>:<cumulative amount refunded> for purchase refunds.';
comment on column public.credit_shortfalls.resolved_at is
  'Set by an admin once the shortfall is settled or written off (null: open).';

-- ---------------------------------------------------------------------------------------------
-- Disputes.
comment on table public.stripe_disputes is
  'Payment disputes (chargebacks), one row per Stripe dispute. An open dispute suspends the '
  'account (profiles.suspended_at, suspended_reason payment_dispute): every API key is refused. '
  'It is lifted when every dispute of the user is closed and the last one was won. Answer the '
  'dispute in the Stripe dashboard; this table follows Stripe''s webhooks, do not edit it.';
comment on column public.stripe_disputes.id is 'Stripe dispute id (dp_... or du_...).';
comment on column public.stripe_disputes.checkout_session_id is
  'The disputed purchase (public.stripe_payments), when it could be matched.';
comment on column public.stripe_disputes.charge_id is 'The disputed Stripe Charge (ch_...).';
comment on column public.stripe_disputes.amount is 'Disputed amount, smallest currency unit (cents).';
comment on column public.stripe_disputes.reason is 'Stripe''s dispute reason (fraudulent, duplicate, ...).';
comment on column public.stripe_disputes.opened_at is 'When charge.dispute.created arrived.';

-- ---------------------------------------------------------------------------------------------
-- Stripe events, including unmatched ones.
comment on table public.stripe_events is
  'Every Stripe webhook event processed, once: the id is inserted in the same transaction that '
  'applies the event, so a redelivery finds it and changes nothing. Unmatched events (outcome '
  'unmatched: a refund or dispute for a payment not fulfilled yet) wait here and are replayed '
  'when the payment is fulfilled; list them with "where outcome = ''unmatched''". Service-only: '
  'RLS is enabled with no policies on purpose (deny all) and anon/authenticated hold no '
  'privileges; only service_role (the webhook handler) reads and writes it.';
comment on column public.stripe_events.id is 'Stripe event id (evt_...): search it in the Stripe dashboard.';
comment on column public.stripe_events.type is 'Stripe event type (checkout.session.completed, charge.refunded, ...).';
comment on column public.stripe_events.livemode is 'True for live-mode events, false for test mode.';
comment on column public.stripe_events.received_at is 'When the webhook delivery arrived.';
comment on column public.stripe_events.processed_at is 'When processing finished (null: not finished).';

-- ---------------------------------------------------------------------------------------------
-- Idempotency records and the browser views' remaining columns.
comment on column private.idempotency_keys.api_key_hash is
  'Hex SHA-256 of the API key that sent the request (never the key itself).';
comment on column private.idempotency_keys.idempotency_key is 'The client''s Idempotency-Key header.';
comment on column private.idempotency_keys.status_code is 'HTTP status of the stored response (null: still running).';
comment on column private.idempotency_keys.response is 'The JSON body replayed to retries.';
comment on column private.job_webhook_secrets.secret is 'The whsec_... signing key. Never shown again to anyone.';
comment on column public.daily_usage.day is 'UTC calendar day of the ledger rows.';
comment on column private.host_politeness.host is 'Upstream host name (lower case), as in job_items.host.';
