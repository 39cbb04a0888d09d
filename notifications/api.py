"""`GET /api/notifications`: the caller's own notifications, newest first."""
from rest_framework import generics, serializers

from .models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    templateKey = serializers.CharField(source="template_key")
    data = serializers.JSONField(source="payload")
    sentAt = serializers.DateTimeField(source="sent_at")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Notification
        fields = ["id", "templateKey", "channel", "status", "data", "sentAt", "createdAt"]
        read_only_fields = fields


class NotificationListView(generics.ListAPIView):
    serializer_class = NotificationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Notification.objects.none()
        return Notification.objects.filter(user=self.request.user).order_by("-id")
