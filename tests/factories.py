"""Re-exports of the per-app factories for modules not yet moved to them (tests/notifications/,
tests/notifications_fixtures.py, tests/listings/test_expiry_reminders.py). New code imports
`tests.accounts.factories` and `tests.listings.factories`; this module goes once those do."""
from .accounts.factories import PASSWORD, UserFactory
from .listings.factories import ListingFactory

__all__ = ["PASSWORD", "ListingFactory", "UserFactory"]
