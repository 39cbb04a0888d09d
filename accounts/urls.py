from django.urls import path

from . import api

urlpatterns = [
    path("auth/token", api.TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh", api.TokenRefreshViewDB.as_view(), name="token-refresh"),
    path("me", api.MeView.as_view(), name="me"),
]
