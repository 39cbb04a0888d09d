"""The banners admin form validates through the public banners.services.banner_validate."""
import pytest
from django.utils import timezone

from audit.models import AuditLog
from banners import services
from banners.models import Banner

pytestmark = pytest.mark.django_db


def test_admin_form_shows_the_validators_error_on_the_field_and_saves_nothing(client, admin_user, monkeypatch):
    calls = []
    real = services.banner_validate
    monkeypatch.setattr(services, "banner_validate", lambda b: calls.append(b.title) or real(b))
    client.force_login(admin_user)
    now = timezone.localtime()
    response = client.post("/admin/banners/banner/add/", {
        "placement": "home", "title": "Late", "image_url": "ftp://cdn.example.com/a.png", "link": "",
        "start_date_0": now.strftime("%Y-%m-%d"), "start_date_1": now.strftime("%H:%M:%S"),
        "end_date_0": "", "end_date_1": "", "priority": "3", "status": "active"})
    assert response.status_code == 200
    assert calls == ["Late"]  # the form field accepts ftp://, the banner rules do not
    assert response.context["adminform"].form.errors == {"image_url": ["Only http and https URLs."]}
    assert Banner.objects.count() == 0 and AuditLog.objects.count() == 0


def test_banner_validate_is_public_and_names_the_field():
    from core.errors import ValidationFailed

    banner = Banner(placement="home", title="x", image_url="javascript:alert(1)", priority=1,
                    start_date=timezone.now(), status="active")
    with pytest.raises(ValidationFailed) as exc:
        services.banner_validate(banner)
    assert exc.value.fields == {"imageUrl": "Only http and https URLs."}
