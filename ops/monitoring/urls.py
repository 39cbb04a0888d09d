from django.urls import path

from .api import QueuesView

urlpatterns = [
    path("admin/queues", QueuesView.as_view(), name="admin-queues"),
]
