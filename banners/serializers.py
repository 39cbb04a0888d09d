"""Banner JSON (camelCase). Input serializers check types and ranges; services re-check the rules."""
from rest_framework import serializers

from core.api.fields import RenamedModelSerializer

from .models import PRIORITY_MAX, PRIORITY_MIN, Banner, BannerStatus, Placement


class HttpUrlField(serializers.URLField):
    """An absolute http(s) URL (javascript:, data:, ftp: ... are refused)."""

    default_error_messages = {"scheme": "Only http and https URLs."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value and not value.lower().startswith(("http://", "https://")):
            self.fail("scheme")
        return value


class BannerSerializer(RenamedModelSerializer):
    """A banner as admins see it (and, without createdBy, as the public feed shows it)."""

    imageUrl = HttpUrlField(source="image_url", max_length=1000)
    link = HttpUrlField(max_length=1000, required=False, allow_blank=True)
    startDate = serializers.DateTimeField(source="start_date")
    endDate = serializers.DateTimeField(source="end_date", required=False, allow_null=True)
    placement = serializers.ChoiceField(choices=Placement.choices)
    status = serializers.ChoiceField(choices=BannerStatus.choices, required=False)
    priority = serializers.IntegerField(min_value=PRIORITY_MIN, max_value=PRIORITY_MAX, required=False)

    class Meta:
        model = Banner
        fields = ["id", "placement", "title", "imageUrl", "link", "startDate", "endDate", "priority", "status",
                  "createdBy", "createdAt", "updatedAt"]
        read_only_fields = ["id", "createdBy", "createdAt", "updatedAt"]
        renamed = {"createdBy": "created_by_id", "createdAt": "created_at", "updatedAt": "updated_at"}

    def validate(self, attrs):
        start = attrs.get("start_date", getattr(self.instance, "start_date", None))
        end = attrs.get("end_date", getattr(self.instance, "end_date", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"endDate": "Must be after startDate."})
        return attrs


class PublicBannerSerializer(serializers.ModelSerializer):
    imageUrl = serializers.CharField(source="image_url")
    startDate = serializers.DateTimeField(source="start_date")
    endDate = serializers.DateTimeField(source="end_date")

    class Meta:
        model = Banner
        fields = ["id", "placement", "title", "imageUrl", "link", "startDate", "endDate", "priority"]
        read_only_fields = fields


class PlacementQuerySerializer(serializers.Serializer):
    placement = serializers.ChoiceField(choices=Placement.choices)
