"""Notifications API: the caller's own notifications, devices and channel preferences."""
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import IsAdmin
from core.api.pagination import paginated_response

from . import services
from .models import Notification
from .selectors import (device_list_for_user, notification_ids_stuck_sending, notification_list_for_user,
                        preference_for_user)
from .serializers import (DeviceSerializer, NotificationSerializer, PreferenceSerializer, RetryInputSerializer,
                          RetryOutputSerializer)


class NotificationListView(generics.ListAPIView):
    """`GET /api/notifications`: own notifications, newest first, paginated."""

    serializer_class = NotificationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Notification.objects.none()
        return notification_list_for_user(user=self.request.user)


class DeviceListCreateView(APIView):
    """`GET /api/notifications/devices` (own active devices), `POST` {token, platform} registers
    an FCM token (201; registering a known token again moves it to the caller and reactivates it)."""

    @extend_schema(responses=DeviceSerializer(many=True))
    def get(self, request):
        return paginated_response(request, device_list_for_user(user=request.user), DeviceSerializer, view=self)

    @extend_schema(request=DeviceSerializer, responses={201: DeviceSerializer})
    def post(self, request):
        data = DeviceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device = services.device_register(user=request.user, **data.validated_data)
        return Response(DeviceSerializer(device).data, status=status.HTTP_201_CREATED)


class DeviceDetailView(APIView):
    """`DELETE /api/notifications/devices/{id}`: stop pushing to one of the caller's devices."""

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, device_id: int):
        services.device_unregister(user=request.user, device_id=device_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PreferenceView(APIView):
    """`GET/PATCH /api/notifications/preferences` {phone, push, sms, email} (phoneActive read-only)."""

    @extend_schema(responses=PreferenceSerializer)
    def get(self, request):
        return Response(PreferenceSerializer(preference_for_user(user=request.user)).data)

    @extend_schema(request=PreferenceSerializer, responses=PreferenceSerializer)
    def patch(self, request):
        data = PreferenceSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        pref = services.preference_update(user=request.user, changes=data.validated_data)
        return Response(PreferenceSerializer(pref).data)


class NotificationRetryView(APIView):
    """`POST /api/admin/notifications/retry` {ids} or {stuck: true} (admins): send again the failed
    ones and the ones stuck in sending (docs/notifications.md: the user may get a stuck one twice).
    Answers {"retried": [ids]}; ids that are neither are left alone."""

    permission_classes = [IsAdmin]

    @extend_schema(request=RetryInputSerializer, responses=RetryOutputSerializer)
    def post(self, request):
        data = RetryInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = list(data.validated_data.get("ids") or [])
        if data.validated_data.get("stuck"):
            ids += notification_ids_stuck_sending()
        return Response({"retried": services.notifications_retry(notification_ids=ids, actor=request.user)})
