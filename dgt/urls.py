"""URL map: Django admin, the JSON API under /api/, health probes."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ops.health import healthz, readyz
from ops.monitoring.api import MetricsView

api = [
    path("", include("accounts.urls")),
    path("", include("listings.urls")),
    path("", include("audit.urls")),
    path("", include("notifications.urls")),
    path("", include("wallet.urls")),
    path("", include("analytics.urls")),
    path("", include("ops.monitoring.urls")),
    path("", include("outbox.urls")),
    path("", include("banners.urls")),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", MetricsView.as_view(), name="metrics"),
]

handler400 = "core.api.errors.bad_request_view"
handler403 = "core.api.errors.permission_denied_view"
handler404 = "core.api.errors.not_found_view"
handler500 = "core.api.errors.server_error_view"
