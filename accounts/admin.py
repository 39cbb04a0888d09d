from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "role", "is_active", "blocked_at", "block_until")
    list_filter = ("role", "is_active", "is_staff")
    fieldsets = BaseUserAdmin.fieldsets + (("Marketplace", {"fields": ("role", "blocked_at", "block_until", "block_reason")}),)
    readonly_fields = ("blocked_at", "block_until", "block_reason")
