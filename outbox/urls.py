from django.urls import path

from . import api

urlpatterns = [
    path("admin/outbox", api.OutboxListView.as_view(), name="outbox-list"),
    path("admin/outbox/<int:outbox_id>/retry", api.OutboxRetryView.as_view(), name="outbox-retry"),
]
