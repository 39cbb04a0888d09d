"""Moderation in Django admin: bulk approve / reject through the same services as the API."""
from django import forms
from django.conf import settings
from django.contrib import admin

from core.admin_actions import form_action
from core.admin_roles import RoleAdminMixin

from . import services
from .models import Listing


class ApproveForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    expiry_days = forms.IntegerField(min_value=1, max_value=365, initial=settings.LISTING_DEFAULT_EXPIRY_DAYS,
                                     label="Expiry (days)")


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


@admin.register(Listing)
class ListingAdmin(RoleAdminMixin, admin.ModelAdmin):
    """Moderators and admins view and moderate (through the actions); only admins delete;
    listings are created by sellers, never here."""

    view_role = change_role = "moderator"
    add_role = None

    list_display = ("id", "title", "owner", "category", "price", "status", "expires_at", "created_at")
    list_filter = ("status", "category")
    search_fields = ("title", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = ("owner", "status", "reason", "approved_at", "expires_at", "reminder_sent_3d",
                       "reminder_sent_1d", "expired_at", "created_at", "updated_at")
    fields = ("title", "description", "category", "price") + readonly_fields
    actions = ["approve_selected", "reject_selected"]

    @admin.action(description="Approve selected listings")
    def approve_selected(self, request, queryset):
        return form_action(self, request, queryset, form_class=ApproveForm, title="Approve listings", noun="listing",
                           call=lambda pk, user, form: services.listing_approve(
                               listing_id=pk, actor=user, reason=form.cleaned_data["reason"],
                               expiry_days=form.cleaned_data["expiry_days"]))

    @admin.action(description="Reject selected listings")
    def reject_selected(self, request, queryset):
        return form_action(self, request, queryset, form_class=RejectForm, title="Reject listings", noun="listing",
                           call=lambda pk, user, form: services.listing_reject(listing_id=pk, actor=user,
                                                                              reason=form.cleaned_data["reason"]))

    def has_change_permission(self, request, obj=None):
        # Moderators act through the actions; editing a seller's text is not moderation.
        return super().has_change_permission(request, obj) and obj is None
