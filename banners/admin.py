"""Banners in Django admin (admins): create, edit and delete through banners.services, so the
audit row, the `banners.update` event and the cache drop are the same as from the API."""
from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from core.admin_roles import RoleAdminMixin
from core.errors import ServiceError

from . import services
from .models import Banner

_CAMEL_TO_FIELD = {camel: name for name, camel in services.FIELDS.items()}


class BannerForm(forms.ModelForm):
    image_url = forms.URLField(max_length=1000, assume_scheme="https", label="Image URL")
    link = forms.URLField(max_length=1000, required=False, assume_scheme="https")

    class Meta:
        model = Banner
        fields = list(services.FIELDS)


@admin.register(Banner)
class BannerAdmin(RoleAdminMixin, admin.ModelAdmin):
    form = BannerForm
    list_display = ("id", "preview", "title", "placement", "status", "priority", "start_date", "end_date", "created_by")
    list_filter = ("placement", "status")
    search_fields = ("title",)
    list_select_related = ("created_by",)
    readonly_fields = ("preview", "created_by", "created_at", "updated_at")
    actions = ["delete_selected_banners"]

    @admin.display(description="Preview")
    def preview(self, obj):
        # format_html escapes both values: a crafted URL or title cannot inject markup.
        if not obj or not obj.image_url:
            return "-"
        return format_html('<img src="{}" alt="{}" style="max-height:60px;max-width:200px">', obj.image_url, obj.title)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk delete would skip the service
        return actions

    def _form_error(self, form, exc: ServiceError):
        for camel, message in (exc.fields or {"__all__": exc.message}).items():
            field = _CAMEL_TO_FIELD.get(camel)
            form.add_error(field if field in form.fields else None, message)

    def get_form(self, request, obj=None, change=False, **kwargs):
        admin_self = self
        base = super().get_form(request, obj, change=change, **kwargs)

        class ServiceValidatedForm(base):
            """Runs the service inside form validation so rule errors show on the form."""

            def _post_clean(self):
                super()._post_clean()
                if self.errors:
                    return
                try:
                    services.banner_validate(self.instance)
                except ServiceError as exc:
                    admin_self._form_error(self, exc)

        return ServiceValidatedForm

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in services.FIELDS if name in form.cleaned_data}
        if change:
            saved = services.banner_update(banner_id=obj.pk, actor=request.user,
                                           changes={k: v for k, v in data.items() if k in form.changed_data})
        else:
            saved = services.banner_create(actor=request.user, **data)
        obj.pk = saved.pk
        obj.created_by_id = saved.created_by_id

    def delete_model(self, request, obj):
        services.banner_delete(banner_id=obj.pk, actor=request.user)

    @admin.action(description="Delete selected banners")
    def delete_selected_banners(self, request, queryset):
        done = 0
        for pk in queryset.values_list("pk", flat=True):
            try:
                services.banner_delete(banner_id=pk, actor=request.user)
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"#{pk}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Deleted {done} banner(s).", messages.SUCCESS)
