from django.urls import path

from . import api

urlpatterns = [
    path("notifications", api.NotificationListView.as_view(), name="notifications"),
    path("notifications/devices", api.DeviceListCreateView.as_view(), name="notification-devices"),
    path("notifications/devices/<int:device_id>", api.DeviceDetailView.as_view(), name="notification-device"),
    path("admin/notifications/retry", api.NotificationRetryView.as_view(), name="notification-retry"),
    path("notifications/preferences", api.PreferenceView.as_view(), name="notification-preferences"),
]
