"""Create the demo users and listings (idempotent) and print how to sign in.

Users admin, moderator, moderator2, seller, buyer, all with password demo-pass-123; a few pending listings
owned by seller. Run twice, it creates nothing new.
"""
import os
from datetime import timedelta
from decimal import Decimal

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.templatetags.static import static
from django.utils import timezone

from accounts.models import Role, User
from accounts.tokens import token_pair_for
from listings.models import Listing, ListingStatus
from listings.search.services import search_rebuild

PASSWORD = "demo-pass-123"
USERS = [
    ("admin", Role.ADMIN, True),
    ("moderator", Role.MODERATOR, False),
    ("seller", Role.USER, False),
    ("buyer", Role.USER, False),
    ("moderator2", Role.MODERATOR, False),  # last: the README's examples use seller = user 3
]
LISTINGS = [
    ("iPhone 13, 128 GB, boxed", "electronics", "42000.00"),
    ("Honda Activa 2019, 18,000 km", "vehicles", "48000.00"),
    ("Teak wood dining table, 6 seater", "furniture", "15500.00"),
    ("2BHK for rent near Koramangala", "property", "28000.00"),
]


def _demo_wallets(users: dict) -> None:
    """A wallet per demo user; seller topped up 1000.00 and charged 500.00 against "listing-fee-1"
    (a paid listing's fee), so the README's refund example refunds a real charge. Once only."""
    from wallet.models import Transaction, TransactionKind
    from wallet.services import charge_create, topup_credit, wallet_ensure

    for user in users.values():
        wallet_ensure(user_id=user.pk)
    seller = users["seller"]
    if not Transaction.objects.filter(wallet_id=seller.pk, kind=TransactionKind.CHARGE, ref_id="listing-fee-1").exists():
        topup_credit(user_id=seller.pk, amount=Decimal("1000.00"), payment_id="demo-payment-1", reason="demo top-up")
        charge_create(user_id=seller.pk, amount=Decimal("500.00"), ref_id="listing-fee-1",
                      reason="Featured listing fee (demo)")


class Command(BaseCommand):
    help = "Create demo users and listings (idempotent) and print sign-in details."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="Create, print nothing.")
        parser.add_argument("--migrate", action="store_true",
                            help="First migrate and create the periodic tasks (`make run`: one Django start-up, "
                                 "not three; docs/benchmarks.md, first run).")

    def handle(self, *args, quiet=False, migrate=False, **options):
        if migrate:
            call_command("migrate", interactive=False, verbosity=0 if quiet else 1)
            call_command("setup_periodic_tasks")
        self._create(quiet=quiet)

    @transaction.atomic
    def _create(self, *, quiet: bool):
        users = {}
        for username, role, superuser in USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"role": role, "is_staff": role != Role.USER, "is_superuser": superuser,
                          "email": f"{username}@example.com"},
            )
            if created:
                user.set_password(PASSWORD)
                user.save(update_fields=["password"])
            users[username] = user
        seller = users["seller"]
        if not Listing.objects.filter(owner=seller).exists():
            Listing.objects.bulk_create(
                Listing(owner=seller, title=title, description=f"Demo listing: {title}.", category=category,
                        price=Decimal(price), status=ListingStatus.PENDING)
                for title, category, price in LISTINGS
            )
        _demo_wallets(users)
        _moderation_demo(seller, users["moderator"])
        _expiry_demo(users["buyer"])
        from banners.models import Banner  # one home banner for the public feed
        from banners.services import banner_create

        if not Banner.objects.exists():
            banner_create(actor=users["admin"], placement="home", title="Festive sale: 0% commission",
                          image_url=_local_static_url("banners/demo-festive.svg"), link="https://example.com/festive",
                          start_date=timezone.now(), priority=10)
        # Listings created above in bulk (approved ones included) bypass the services that queue
        # search updates: make the index match every listing, as `manage.py search_rebuild` does.
        search_rebuild()
        if quiet:
            return
        pending = list(Listing.objects.filter(status=ListingStatus.PENDING).values_list("pk", flat=True)[:10])
        self.stdout.write(self.style.SUCCESS("dgt demo data ready."))
        self.stdout.write(f"  Demo users (password {PASSWORD}): admin, moderator, moderator2, seller, buyer")
        self.stdout.write(f"  Django admin login: admin / {PASSWORD}")
        self.stdout.write("  Moderation queue: /admin/listings/moderationqueue/ (moderator and moderator2 side by side)")
        self.stdout.write(f"  Pending listing ids: {pending}")
        self.stdout.write(f"  seller user id: {seller.pk}; wallet charge to refund: refId listing-fee-1 (500.00)")
        self.stdout.write(f"  seller access token:    {token_pair_for(seller)['access']}")
        self.stdout.write(f"  moderator access token: {token_pair_for(users['moderator'])['access']}")
        self.stdout.write(f"  admin access token:     {token_pair_for(users['admin'])['access']}")


def _local_static_url(path: str) -> str:
    """An absolute URL of one of dgt's own static files on the `make run` server (PORT, default
    8000), so the demo works offline: banners take only http(s) URLs (banners.services)."""
    return f"http://127.0.0.1:{os.environ.get('PORT', '8000')}{static(path)}"


# Approved listings due for the expiry job (docs/notifications.md), owned by buyer (who also sells): `runjob
# expiry_reminders` sends a 1-day and a 3-day reminder and expires one; a second run sends none.
# Buyer has a console device and a phone too, so those reminders go out on push, SMS and email;
# seller (the README's walk-through) is reached by email only.
EXPIRY_DEMO = [("Canon EOS 1500D camera", "electronics", "26000.00", timedelta(hours=20)),
               ("Study table with drawer", "furniture", "3500.00", timedelta(days=2, hours=12)),
               ("Royal Enfield helmet", "vehicles", "1800.00", timedelta(hours=-1))]


def _expiry_demo(owner) -> None:
    from notifications.models import Device, NotificationPreference

    if Listing.objects.filter(owner=owner, title=EXPIRY_DEMO[0][0]).exists():
        return
    now = timezone.now()
    Listing.objects.bulk_create(
        Listing(owner=owner, title=title, description=f"Demo listing: {title}.", category=category,
                price=Decimal(price), status=ListingStatus.APPROVED, approved_at=now - timedelta(days=29),
                expires_at=now + due_in)
        for title, category, price, due_in in EXPIRY_DEMO
    )
    Device.objects.get_or_create(token="demo-fcm-token-buyer", defaults={"user": owner, "platform": "android"})
    NotificationPreference.objects.get_or_create(user=owner, defaults={"phone": "+919800000001"})


# The moderation queue (docs/moderation.md): canned reasons, the pending listings spread over the last
# hours (the oldest past the 60-minute SLA), and one earlier rejection of seller for the preview.
PENDING_AGES = [timedelta(hours=5), timedelta(hours=2), timedelta(minutes=40), timedelta(minutes=5)]


def _moderation_demo(seller, moderator) -> None:
    from listings.models import CannedReason
    from listings.reasons import canned_reasons_demo
    from listings.services import listing_reject

    canned_reasons_demo()
    if Listing.objects.filter(owner=seller, title="Replica watch, brand new").exists():
        return
    now = timezone.now()
    for listing, age in zip(Listing.objects.filter(owner=seller, status=ListingStatus.PENDING).order_by("id"),
                            PENDING_AGES):
        Listing.objects.filter(pk=listing.pk).update(created_at=now - age)
    replica = Listing.objects.create(owner=seller, title="Replica watch, brand new", category="misc",
                                     price=Decimal("1500.00"), description="Demo listing: looks like the real one.")
    Listing.objects.filter(pk=replica.pk).update(created_at=now - timedelta(days=2))
    listing_reject(listing_id=replica.pk, actor=moderator,
                   reason_id=CannedReason.objects.get(code="prohibited-item").pk)
