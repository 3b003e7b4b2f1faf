"""Per-request work that does not depend on the request is done once, not per request (issue 11):
the query models' JSON schemas; and the rate limit of a call is one counter hit, with no
per-request pass over limits the endpoint does not have."""

from __future__ import annotations

import inspect

import pytest
from pydantic.json_schema import GenerateJsonSchema

from app.openapi import QueryModel
from tests.conftest import make_funded_key


def _schema_builds(monkeypatch) -> list[str]:
    """Record every pydantic JSON-schema build (a spy: the real method still runs)."""
    builds: list[str] = []
    real = GenerateJsonSchema.generate

    def counting(self, schema, mode="validation"):
        builds.append(mode)
        return real(self, schema, mode)

    monkeypatch.setattr(GenerateJsonSchema, "generate", counting)
    return builds


def test_query_validation_does_not_rebuild_the_json_schema(client, db, monkeypatch):
    _, key = make_funded_key(db, 0)
    headers = {"x-api-key": key}
    assert client.get("/v1/credits/history?limit=2", headers=headers).status_code == 200
    builds = _schema_builds(monkeypatch)

    for limit in (1, 3, 5):
        response = client.get(f"/v1/credits/history?limit={limit}", headers=headers)
        assert response.status_code == 200

    assert builds == []


def test_query_validation_still_rejects_bad_values(client, db):
    _, key = make_funded_key(db, 0)

    response = client.get("/v1/credits/history?limit=0", headers={"x-api-key": key})

    assert response.status_code == 400
    fields = response.get_json()["error"]["details"]["fields"]
    assert [f["field"] for f in fields] == ["limit"]


def test_every_query_model_caches_its_schema(app):
    query_models = {
        inspect.getclosurevars(view).nonlocals.get("query")
        for view in app.view_functions.values()
        if inspect.isfunction(view)
    } - {None}

    assert len(query_models) >= 6
    assert [m.__name__ for m in query_models if not issubclass(m, QueryModel)] == []


def test_the_shared_schema_is_read_only_and_a_call_with_arguments_is_fresh(app):
    from app.pagination import PageQuery

    shared = PageQuery.model_json_schema()
    with pytest.raises(TypeError):
        shared["properties"]["limit"]["maximum"] = 10**6
    with pytest.raises(TypeError):
        shared["properties"]["cursor"]["anyOf"][0]["type"] = "integer"

    fresh = PageQuery.model_json_schema(mode="serialization")
    fresh["properties"].clear()
    assert PageQuery.model_json_schema(mode="serialization")["properties"]
    assert PageQuery.model_json_schema()["properties"]["limit"]["maximum"] == 100


def _counter_calls(monkeypatch) -> list[tuple[str, tuple[str, ...]]]:
    """Record every rate-limit counter hit and test, with its identifiers (a spy: the real
    methods still run)."""
    from limits.strategies import FixedWindowRateLimiter

    calls: list[tuple[str, tuple[str, ...]]] = []
    real_hit, real_test = FixedWindowRateLimiter.hit, FixedWindowRateLimiter.test

    def hit(self, item, *identifiers, cost=1):
        calls.append(("hit", identifiers))
        return real_hit(self, item, *identifiers, cost=cost)

    def test(self, item, *identifiers, cost=1):
        calls.append(("test", identifiers))
        return real_test(self, item, *identifiers, cost=cost)

    monkeypatch.setattr(FixedWindowRateLimiter, "hit", hit)
    monkeypatch.setattr(FixedWindowRateLimiter, "test", test)
    return calls


def test_a_known_keys_call_is_one_counter_hit(client, db, monkeypatch):
    _, key = make_funded_key(db, 0)
    assert client.get("/v1/credits/balance", headers={"x-api-key": key}).status_code == 200
    calls = _counter_calls(monkeypatch)

    response = client.get("/v1/credits/balance", headers={"x-api-key": key})

    assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"].isdigit()
    assert [(kind, ids[0], ids[2]) for kind, ids in calls] == [("hit", "creatorscrape", "api_key")]


def test_an_unlimited_endpoint_touches_no_counter(client, monkeypatch):
    calls = _counter_calls(monkeypatch)

    response = client.get("/v1/openapi.json")

    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers
    assert calls == []
