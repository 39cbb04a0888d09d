from django.contrib import admin

from .models import EventOutbox


@admin.register(EventOutbox)
class EventOutboxAdmin(admin.ModelAdmin):
    list_display = ("id", "channel", "group", "status", "attempts", "next_attempt_at", "sent_at", "created_at")
    list_filter = ("status", "channel")
    search_fields = ("group", "request_id")
    readonly_fields = [f.name for f in EventOutbox._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
