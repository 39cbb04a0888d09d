from django.conf import settings
from rest_framework import serializers

from core.api.fields import MoneyField
from core.api.output import api_datetime, api_money

from .models import Listing


class ListingSerializer(serializers.ModelSerializer):
    """A listing as the apps see it (camelCase). Status and dates are read-only."""

    ownerId = serializers.IntegerField(source="owner_id", read_only=True)
    price = MoneyField(positive=False)
    approvedAt = serializers.DateTimeField(source="approved_at", read_only=True)
    expiresAt = serializers.DateTimeField(source="expires_at", read_only=True)
    expiredAt = serializers.DateTimeField(source="expired_at", read_only=True)
    reminderSent3d = serializers.BooleanField(source="reminder_sent_3d", read_only=True)
    reminderSent1d = serializers.BooleanField(source="reminder_sent_1d", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Listing
        fields = ["id", "ownerId", "title", "description", "category", "price", "status", "reason", "approvedAt",
                  "expiresAt", "expiredAt", "reminderSent3d", "reminderSent1d", "createdAt", "updatedAt"]
        read_only_fields = ["id", "status", "reason"]

    def validate_category(self, value: str) -> str:
        if value not in settings.LISTING_CATEGORIES:
            raise serializers.ValidationError(f"One of: {', '.join(settings.LISTING_CATEGORIES)}.")
        return value

    def validate_title(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()


def listing_out(listing: Listing) -> dict:
    """`ListingSerializer(listing).data` for the hot paths (GET /api/listings, approve), without a
    serializer instance per request; tests/listings/test_listing_out.py keeps the two identical."""
    return {
        "id": listing.pk, "ownerId": listing.owner_id, "title": listing.title, "description": listing.description,
        "category": listing.category, "price": api_money(listing.price), "status": listing.status,
        "reason": listing.reason, "approvedAt": api_datetime(listing.approved_at),
        "expiresAt": api_datetime(listing.expires_at), "expiredAt": api_datetime(listing.expired_at),
        "reminderSent3d": listing.reminder_sent_3d, "reminderSent1d": listing.reminder_sent_1d,
        "createdAt": api_datetime(listing.created_at), "updatedAt": api_datetime(listing.updated_at),
    }


class ApproveInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    expiryDays = serializers.IntegerField(required=False, min_value=1, max_value=365,
                                          default=settings.LISTING_DEFAULT_EXPIRY_DAYS)


class RejectInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
