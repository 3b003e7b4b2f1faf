"""The ``/v1`` API: one blueprint per resource under one ``/v1`` parent."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, OpenAPI

from app.v1 import auth, billing, creators, credits, jobs, keys, platforms, posts, system


def register(app: OpenAPI) -> None:
    """Register ``/v1/...`` resources and the unversioned system routes on ``app``."""
    v1 = APIBlueprint("v1", __name__, url_prefix="/v1")
    v1.register_api(creators.bp)
    v1.register_api(platforms.bp)
    v1.register_api(posts.bp)
    v1.register_api(credits.bp)
    v1.register_api(auth.bp)
    v1.register_api(keys.bp)
    v1.register_api(billing.bp)
    v1.register_api(jobs.bp)
    v1.register_api(system.v1_bp)
    app.register_api(v1)
    app.register_api(system.bp)
