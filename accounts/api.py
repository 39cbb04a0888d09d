"""Accounts API: token obtain/refresh, `GET /api/me`, admin block / unblock / role.

Views validate, call one service and serialize; rate limits per core.api.ratelimit.
"""
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from core.api.permissions import IsAdmin
from core.api.ratelimit import ratelimit

from . import services
from .serializers import (AdminUserSerializer, BlockInputSerializer, MeSerializer, RoleInputSerializer,
                          TokenObtainSerializer, TokenRefreshSerializerDB, UnblockInputSerializer)


class TokenObtainView(TokenObtainPairView):
    """`POST /api/auth/token` {username, password}; limited per client IP and per username."""

    serializer_class = TokenObtainSerializer

    @ratelimit(rate="token_ip", key="ip", sliding=True)
    @ratelimit(rate="token_username", key="username", sliding=True)
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class TokenRefreshViewDB(TokenRefreshView):
    """`POST /api/auth/token/refresh` {refresh}; limited per client IP."""

    serializer_class = TokenRefreshSerializerDB

    @ratelimit(rate="token_refresh", key="ip", sliding=True)
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class UserBlockView(APIView):
    """`POST /api/admin/users/{id}/block` {reason, until? | days?}: admins; neither = indefinite."""

    permission_classes = [IsAdmin]

    @extend_schema(request=BlockInputSerializer, responses=AdminUserSerializer)
    @ratelimit(rate="user_block", key="user")
    def post(self, request, user_id: int):
        data = BlockInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        until = data.validated_data.get("until")
        if data.validated_data.get("days"):
            until = timezone.now() + timedelta(days=data.validated_data["days"])
        user = services.user_block(user_id=user_id, actor=request.user, reason=data.validated_data["reason"],
                                   until=until, replace=data.validated_data["replace"])
        return Response(AdminUserSerializer(user).data)


class UserUnblockView(APIView):
    """`POST /api/admin/users/{id}/unblock` {reason?}: admins."""

    permission_classes = [IsAdmin]

    @extend_schema(request=UnblockInputSerializer, responses=AdminUserSerializer)
    @ratelimit(rate="user_block", key="user")
    def post(self, request, user_id: int):
        data = UnblockInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_unblock(user_id=user_id, actor=request.user, reason=data.validated_data["reason"])
        return Response(AdminUserSerializer(user).data)


class UserRoleView(APIView):
    """`POST /api/admin/users/{id}/role` {role, reason?}: admins (granting/removing admin: superusers)."""

    permission_classes = [IsAdmin]

    @extend_schema(request=RoleInputSerializer, responses=AdminUserSerializer)
    @ratelimit(rate="user_block", key="user")
    def post(self, request, user_id: int):
        data = RoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_role_set(user_id=user_id, actor=request.user, role=data.validated_data["role"],
                                      reason=data.validated_data["reason"])
        return Response(AdminUserSerializer(user).data)
