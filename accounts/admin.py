"""Users in Django admin: block, unblock and role changes as actions with a form, through the same
services as the API (accounts.services), so audit rows, events and socket closes never differ.

Role and block fields are read-only on the change form: they change only through the actions.
The change form saves through `accounts.services.user_update` (audit row `user.update`; turning
`is_active` off closes the user's sockets like a block does), the add form through
`user_create_in_admin` (audit row `user.create`).
"""
from datetime import timedelta

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils import timezone

from core.admin_actions import form_action
from core.admin_roles import RoleAdminMixin

from . import services
from .models import Role, User


class BlockForm(forms.Form):
    reason = forms.CharField(max_length=services.REASON_MAX, widget=forms.Textarea(attrs={"rows": 2}))
    days = forms.IntegerField(required=False, min_value=1, max_value=3650, label="Duration (days)",
                              help_text="Leave empty with no end date to block indefinitely.")
    until = forms.DateTimeField(required=False, label="Or until (date and time)",
                                help_text="In the site time zone (Asia/Kolkata).")
    replace = forms.BooleanField(required=False, label="Replace a block in force",
                                 help_text="Without it, users who are already blocked are left as they are.")

    def clean(self):
        data = super().clean()
        if data.get("days") and data.get("until"):
            raise forms.ValidationError("Give a duration or an end date, not both.")
        if data.get("until") and data["until"] <= timezone.now():
            self.add_error("until", "Must be in the future.")
        return data

    def until_value(self):
        if self.cleaned_data.get("days"):
            return timezone.now() + timedelta(days=self.cleaned_data["days"])
        return self.cleaned_data.get("until")


class UnblockForm(forms.Form):
    reason = forms.CharField(required=False, max_length=services.REASON_MAX, widget=forms.Textarea(attrs={"rows": 2}))


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    reason = forms.CharField(required=False, max_length=services.REASON_MAX, widget=forms.Textarea(attrs={"rows": 2}))


def _act(modeladmin, request, queryset, *, form_class, title, call):
    """Show `form_class` for the selected users; on submit call `call(user_id, actor, form)` per user."""
    return form_action(modeladmin, request, queryset, form_class=form_class, title=title, noun="user", call=call)


@admin.register(User)
class UserAdmin(RoleAdminMixin, BaseUserAdmin):
    list_display = ("username", "email", "role", "is_active", "blocked_at", "block_until", "block_reason")
    list_filter = ("role", "is_active", "is_staff")
    fieldsets = BaseUserAdmin.fieldsets + (("Marketplace", {"fields": ("role", "blocked_at", "block_until", "block_reason")}),)
    readonly_fields = ("role", "is_staff", "blocked_at", "block_until", "block_reason", "last_login", "date_joined")
    actions = ["block_selected", "unblock_selected", "set_role_selected"]

    # Admins (role) manage users; moderators do not see them; only superusers delete.
    delete_role = "superuser"

    def save_model(self, request, obj, form, change):
        if not change:
            services.user_create_in_admin(user=obj, actor=request.user)
            return
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in services.ADMIN_EDITABLE_FIELDS}
        services.user_update(user_id=obj.pk, actor=request.user, changes=changes)

    @admin.action(description="Block selected users")
    def block_selected(self, request, queryset):
        return _act(self, request, queryset, form_class=BlockForm, title="Block users",
                    call=lambda pk, actor, form: services.user_block(
                        user_id=pk, actor=actor, reason=form.cleaned_data["reason"], until=form.until_value(),
                        replace=form.cleaned_data["replace"]))

    @admin.action(description="Unblock selected users")
    def unblock_selected(self, request, queryset):
        return _act(self, request, queryset, form_class=UnblockForm, title="Unblock users",
                    call=lambda pk, actor, form: services.user_unblock(
                        user_id=pk, actor=actor, reason=form.cleaned_data["reason"]))

    @admin.action(description="Change role of selected users")
    def set_role_selected(self, request, queryset):
        return _act(self, request, queryset, form_class=RoleForm, title="Change role",
                    call=lambda pk, actor, form: services.user_role_set(
                        user_id=pk, actor=actor, role=form.cleaned_data["role"], reason=form.cleaned_data["reason"]))
