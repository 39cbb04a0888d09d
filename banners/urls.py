from django.urls import path

from . import api

urlpatterns = [
    path("settings/banners", api.BannerListCreateView.as_view(), name="banner-list"),
    path("settings/banners/<int:banner_id>", api.BannerDetailView.as_view(), name="banner-detail"),
    path("banners", api.PublicBannerView.as_view(), name="banner-feed"),
]
