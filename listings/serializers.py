from datetime import tzinfo

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import MoneyField, RenamedModelSerializer
from core.api.output import api_datetime, api_money

from .models import Listing
from .selectors import ListingRow


class ListingSerializer(RenamedModelSerializer):
    """A listing as the apps see it (camelCase). Status and dates are read-only."""

    price = MoneyField(positive=False)

    class Meta:
        model = Listing
        fields = ["id", "ownerId", "title", "description", "category", "price", "status", "reason", "approvedAt",
                  "expiresAt", "expiredAt", "reminderSent3d", "reminderSent1d", "createdAt", "updatedAt"]
        read_only_fields = ["id", "status", "reason"]
        renamed = {"ownerId": "owner_id", "approvedAt": "approved_at", "expiresAt": "expires_at",
                   "expiredAt": "expired_at", "reminderSent3d": "reminder_sent_3d",
                   "reminderSent1d": "reminder_sent_1d", "createdAt": "created_at", "updatedAt": "updated_at"}

    def validate_category(self, value: str) -> str:
        if value not in settings.LISTING_CATEGORIES:
            raise serializers.ValidationError(f"One of: {', '.join(settings.LISTING_CATEGORIES)}.")
        return value

    def validate_title(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()


def listing_out(listing: Listing | ListingRow, tz: tzinfo | None = None) -> dict:
    """`ListingSerializer(listing).data` for the hot paths (GET /api/listings, approve), without a
    serializer instance per request; tests/listings/test_listing_out.py keeps the two identical.
    `listing`: a Listing or a ListingRow (GET /api/listings); `tz`: the current time zone, when the
    caller renders many listings."""
    tz = tz or timezone.get_current_timezone()
    return {
        "id": listing.pk, "ownerId": listing.owner_id, "title": listing.title, "description": listing.description,
        "category": listing.category, "price": api_money(listing.price), "status": listing.status,
        "reason": listing.reason, "approvedAt": api_datetime(listing.approved_at, tz),
        "expiresAt": api_datetime(listing.expires_at, tz), "expiredAt": api_datetime(listing.expired_at, tz),
        "reminderSent3d": listing.reminder_sent_3d, "reminderSent1d": listing.reminder_sent_1d,
        "createdAt": api_datetime(listing.created_at, tz), "updatedAt": api_datetime(listing.updated_at, tz),
    }


class ApproveInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    expiryDays = serializers.IntegerField(required=False, min_value=1, max_value=365,
                                          default=settings.LISTING_DEFAULT_EXPIRY_DAYS)


class RejectInputSerializer(serializers.Serializer):
    """{reason?, reasonId?}: at least one (docs/moderation.md); the service joins them."""

    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    reasonId = serializers.IntegerField(required=False, min_value=1, default=None)

    def validate(self, attrs):
        if not attrs["reason"].strip() and attrs["reasonId"] is None:
            raise serializers.ValidationError({"reason": "This field is required."})
        return attrs


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class ClaimSerializer(serializers.Serializer):
    """{listingId, claimedBy ({id, username} or null), claimedUntil (null when none)}."""

    listingId = serializers.IntegerField(source="pk")
    claimedBy = serializers.SerializerMethodField()
    claimedUntil = serializers.SerializerMethodField()

    def _live(self, listing) -> bool:
        return listing.live_claimant_id(self.context["now"]) is not None

    @extend_schema_field(UserRefSerializer(allow_null=True))
    def get_claimedBy(self, listing) -> dict | None:
        return UserRefSerializer(listing.claimed_by).data if self._live(listing) else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_claimedUntil(self, listing) -> str | None:
        return serializers.DateTimeField().to_representation(listing.claimed_until) if self._live(listing) else None


class QueueItemSerializer(ClaimSerializer):
    """A pending listing in the moderation queue: the listing's fields plus `owner` {id, username},
    `ageSeconds` (whole seconds since created), `claimedBy`, `claimedUntil`."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    price = MoneyField(positive=False)
    owner = UserRefSerializer()
    createdAt = serializers.DateTimeField(source="created_at")
    ageSeconds = serializers.SerializerMethodField()
    listingId = None  # the item's own `id` says it

    def get_ageSeconds(self, listing) -> int:
        return int((self.context["now"] - listing.created_at).total_seconds())


class QueueFilterSerializer(serializers.Serializer):
    """Query of `GET /api/moderation/queue`: category, minPrice, maxPrice (INR), newSellers, earlierRejections."""

    category = serializers.ChoiceField(choices=(), required=False)
    minPrice = MoneyField(positive=False, required=False)
    maxPrice = MoneyField(positive=False, required=False)
    newSellers = serializers.BooleanField(required=False, default=False)
    earlierRejections = serializers.BooleanField(required=False, default=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = settings.LISTING_CATEGORIES

    def validate(self, attrs):
        low, high = attrs.get("minPrice"), attrs.get("maxPrice")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"maxPrice": "Must not be below minPrice."})
        return attrs


class CannedReasonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    title = serializers.CharField()
    text = serializers.CharField()
