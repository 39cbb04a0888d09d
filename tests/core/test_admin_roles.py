"""Who reaches which Django admin page, by marketplace role (core.admin_roles)."""
import pytest

from accounts.models import Role

from ..listings.factories import ListingFactory

PAGES = {"users": "/admin/accounts/user/", "banners": "/admin/banners/banner/", "listings": "/admin/listings/listing/"}


@pytest.mark.django_db
@pytest.mark.parametrize("role,page,status", [
    (Role.MODERATOR, "users", 403), (Role.MODERATOR, "banners", 403), (Role.MODERATOR, "listings", 200),
    (Role.ADMIN, "users", 200), (Role.ADMIN, "banners", 200), (Role.ADMIN, "listings", 200),
    (Role.USER, "listings", 302),  # not staff: sent to the login page
])
def test_admin_pages_by_role(client, make_user, role, page, status):
    client.force_login(make_user(role, is_staff=role != Role.USER))
    assert client.get(PAGES[page]).status_code == status


@pytest.mark.django_db
def test_moderator_cannot_add_or_delete_listings_admin_can_delete(client, make_user, seller):
    listing = ListingFactory(owner=seller)
    client.force_login(make_user(Role.MODERATOR, is_staff=True))
    assert client.get("/admin/listings/listing/add/").status_code == 403
    assert client.post(f"/admin/listings/listing/{listing.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ListingFactory._meta.model.objects.filter(pk=listing.pk).exists()
    client.force_login(make_user(Role.ADMIN, is_staff=True))
    assert client.post(f"/admin/listings/listing/{listing.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not ListingFactory._meta.model.objects.filter(pk=listing.pk).exists()


@pytest.mark.django_db
def test_only_superusers_delete_users(client, make_user, buyer):
    client.force_login(make_user(Role.ADMIN, is_staff=True))
    assert client.post(f"/admin/accounts/user/{buyer.pk}/delete/", {"post": "yes"}).status_code == 403
    assert type(buyer).objects.filter(pk=buyer.pk).exists()
