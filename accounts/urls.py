from django.urls import path

from . import api

urlpatterns = [
    path("auth/token", api.TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh", api.TokenRefreshViewDB.as_view(), name="token-refresh"),
    path("me", api.MeView.as_view(), name="me"),
    path("admin/users/<int:user_id>/block", api.UserBlockView.as_view(), name="user-block"),
    path("admin/users/<int:user_id>/unblock", api.UserUnblockView.as_view(), name="user-unblock"),
    path("admin/users/<int:user_id>/role", api.UserRoleView.as_view(), name="user-role"),
]
