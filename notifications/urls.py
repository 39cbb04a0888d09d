from django.urls import path

from . import api

urlpatterns = [path("notifications", api.NotificationListView.as_view(), name="notifications")]
