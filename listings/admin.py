"""Listings in Django admin: the listing table with bulk approve / reject, canned reasons, and the
moderation workspace (listings.admin_workspace). Everything goes through the same services as the API;
deleting (single or bulk) goes through `listings.services.listing_remove` (audit, event, search)."""
from django.contrib import admin

from core.admin_actions import form_action
from core.admin_roles import RoleAdminMixin

from . import admin_workspace  # noqa: F401  (registers the moderation workspace)
from . import reasons, services
from .admin_forms import ApproveForm, RejectForm
from .models import CannedReason, Listing


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
                       "reminder_sent_1d", "expired_at", "claimed_by", "claimed_until", "created_at", "updated_at")
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
                           call=lambda pk, user, form: services.listing_reject(
                               listing_id=pk, actor=user, reason=form.cleaned_data["reason"],
                               reason_id=form.cleaned_data["reason_id"]))

    def delete_model(self, request, obj):
        services.listing_remove(listing_id=obj.pk, actor=request.user)

    def delete_queryset(self, request, queryset):
        # Django's bulk "Delete selected" lands here: one service call per listing, not one DELETE.
        for pk in queryset.values_list("pk", flat=True):
            services.listing_remove(listing_id=pk, actor=request.user)

    def has_change_permission(self, request, obj=None):
        # Moderators act through the actions; editing a seller's text is not moderation.
        return super().has_change_permission(request, obj) and obj is None


@admin.register(CannedReason)
class CannedReasonAdmin(RoleAdminMixin, admin.ModelAdmin):
    """Admins keep the canned rejection reasons; moderators can read them. Saves and deletes are
    audited (listings.reasons)."""

    view_role = "moderator"
    list_display = ("position", "title", "code", "active", "updated_at")
    list_display_links = ("title",)
    list_filter = ("active",)
    ordering = ("position", "id")
    prepopulated_fields = {"code": ("title",)}
    actions = None

    def save_model(self, request, obj, form, change):
        reasons.canned_reason_save(reason=obj, actor=request.user)

    def delete_model(self, request, obj):
        reasons.canned_reason_delete(reason=obj, actor=request.user)
