from django.urls import path

from . import views

urlpatterns = [
    path("healthz", views.healthz),
    path("api/listings/<int:listing_id>/approve", views.approve),
    path("api/wallet/refund", views.refund),
    path("api/wallet", views.wallet),
    path("api/listings", views.listings),
]
