"""Liveness and readiness probes.

`GET /healthz` answers 200 while the process serves requests (it touches nothing else, so a
database outage does not get every web process restarted). `GET /readyz` runs django-health-check
checks concurrently — database, cache, Redis (services mode) and the Celery broker — and answers
200 `{"status": "ok", "checks": {name: "ok"}}` or 503 `{"status": "unavailable", "checks":
{name: "ok" | "<what failed>"}}` naming what is down.
"""
import asyncio

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from health_check.views import HealthCheckView

from ops.monitoring.checks import readiness_checks


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


class ReadyzView(HealthCheckView):
    """django-health-check's view with dgt's checks and one JSON shape for every client."""

    def get_checks(self):
        self._names = {}
        for name, check in readiness_checks():
            self._names[id(check)] = name
            yield check

    async def get(self, request, *args, **kwargs):
        with self.get_executor() as executor:
            results = await asyncio.gather(*(check.get_result(executor) for check in self.get_checks()))
        checks = {self._names[id(r.check)]: "ok" if r.error is None else str(r.error) for r in results}
        ok = all(v == "ok" for v in checks.values())
        return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


readyz = ReadyzView.as_view()
