"""Stripe billing: credit packs bought through Stripe Checkout, fulfilled exactly once.

- ``client``: the app's ``stripe.StripeClient`` (one per app, never global state) and the
  mapping of Stripe failures to API errors.
- ``checkout``: one Stripe Customer per profile, Checkout Sessions, Customer Portal sessions.
- ``webhook``: ``Stripe-Signature`` verification and the one-transaction fulfilment of events.
"""
