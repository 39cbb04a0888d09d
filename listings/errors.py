"""Error codes the listings app answers with (the `code` of the API error shape)."""
from enum import StrEnum


class ListingErrorCode(StrEnum):
    """Codes of `dgt.errors` exceptions raised by listings services (docs/moderation.md)."""

    LISTING_CLAIMED = "listing_claimed"          # 409: another moderator holds a live claim
    INVALID_TRANSITION = "invalid_transition"    # 409: the listing is not pending
    OWN_LISTING = "own_listing"                  # 403: moderators do not moderate their own listings
