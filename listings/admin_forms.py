"""The decision forms of Django admin (the workspace's listing page and the bulk actions)."""
from django import forms
from django.conf import settings

from .models import CannedReason


class ApproveForm(forms.Form):
    """Expiry days (1..365, default LISTING_DEFAULT_EXPIRY_DAYS) and an optional note."""

    expiry_days = forms.IntegerField(min_value=1, max_value=365, initial=settings.LISTING_DEFAULT_EXPIRY_DAYS,
                                     label="Expiry (days)")
    reason = forms.CharField(required=False, max_length=2000, label="Note (optional)",
                             widget=forms.TextInput(attrs={"size": 40}))


class RejectForm(forms.Form):
    """A canned reason (active ones, numbered 1..9 for the keyboard) and/or free text; one is required."""

    reason_id = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Canned reason")
    reason = forms.CharField(required=False, max_length=2000, label="Free text",
                             widget=forms.Textarea(attrs={"rows": 2, "cols": 50}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        reasons = CannedReason.objects.filter(active=True)
        self.fields["reason_id"].choices = [("", "— pick a reason —")] + [
            (r.pk, f"{n}. {r.title}" if n <= 9 else r.title) for n, r in enumerate(reasons, start=1)]

    def clean(self):
        data = super().clean()
        if data.get("reason_id") is None and not (data.get("reason") or "").strip():
            raise forms.ValidationError("Pick a canned reason or write one.")
        return data
