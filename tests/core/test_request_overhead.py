"""What the per-request shortcuts keep (docs/benchmarks.md, "Per-request overhead"): the API's
content negotiation (core.api.negotiation) answers as DRF's does, the request metrics
(core.prometheus) count every request as django-prometheus does, and the Redis cache
(core.cache.RedisCache) keeps one client and stores what Django's stores."""
from __future__ import annotations

import pytest
from django_prometheus.middleware import Metrics
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.api.negotiation import ApiContentNegotiation
from core.api.renderers import ORJSONRenderer


@pytest.mark.parametrize("accept", [None, "", "*/*", "application/json", "application/json; indent=4",
                                    "text/html, */*;q=0.8", "application/*", "text/html"])
@pytest.mark.parametrize("query", ["", "format=json", "format=xml", "page=2"])
def test_negotiation_answers_as_drf_does(accept, query):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/wallet?{query}", **headers))
    renderers = [ORJSONRenderer()]

    def answer(negotiation):
        try:
            renderer, media_type = negotiation.select_renderer(request, renderers)
            return type(renderer), media_type
        except Exception as e:  # noqa: BLE001 (the same refusal is what is compared)
            return type(e)

    assert answer(ApiContentNegotiation()) == answer(DefaultContentNegotiation())


def test_the_api_refuses_what_it_cannot_render_in_the_error_shape(api_for, seller):
    response = api_for(seller).get("/api/me", HTTP_ACCEPT="text/html")
    assert response.status_code == 406 and response.json()["error"]["code"] == "not_acceptable"


def _value(metric, **labels) -> float:
    return (metric.labels(**labels) if labels else metric)._value.get()


@pytest.mark.django_db
def test_every_request_is_still_counted_by_status_view_and_method(api, api_for, seller):
    metrics = Metrics.get_instance()
    by_view = dict(status="200", view="me", method="GET")
    before = (_value(metrics.responses_by_status_view_method, **by_view),
              _value(metrics.requests_by_method, method="GET"),
              _value(metrics.responses_by_status_view_method, status="401", view="me", method="GET"))
    client = api_for(seller)
    for _ in range(3):
        assert client.get("/api/me").status_code == 200
    assert api.get("/api/me", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert _value(metrics.responses_by_status_view_method, **by_view) == before[0] + 3
    assert _value(metrics.requests_by_method, method="GET") == before[1] + 4
    assert _value(metrics.responses_by_status_view_method, status="401", view="me", method="GET") == before[2] + 1


@pytest.mark.redis
def test_the_redis_cache_keeps_one_client_and_stores_what_djangos_stores():
    import uuid
    from decimal import Decimal

    from django.core.cache import cache, caches
    from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

    from core.cache import RedisCache

    assert isinstance(caches["default"], RedisCache)
    client = caches["default"]._cache
    assert len({id(client.get_client(write=write)) for write in (False, True, False)}) == 1
    django = DjangoRedisCache(cache._servers, {"OPTIONS": cache._options})
    key = f"test:overhead:{uuid.uuid4().hex}"

    assert cache.add(key, 1, 30) and not cache.add(key, 5, 30)
    assert cache.incr(key) == 2 and django.incr(key) == 3 and cache.get(key) == 3
    cache.set(f"{key}:obj", {"amount": Decimal("1.50")}, 30)
    assert django.get(f"{key}:obj") == cache.get(f"{key}:obj") == {"amount": Decimal("1.50")}
    with pytest.raises(ValueError):
        cache.incr(f"{key}:missing")
    cache.delete_many([key, f"{key}:obj"])
    assert cache.get(key) is None and django.get(f"{key}:obj") is None
