"""Accounts API: token obtain/refresh, `GET /api/me`."""
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from .serializers import MeSerializer, TokenObtainSerializer, TokenRefreshSerializerDB


class TokenObtainView(TokenObtainPairView):
    serializer_class = TokenObtainSerializer


class TokenRefreshViewDB(TokenRefreshView):
    serializer_class = TokenRefreshSerializerDB


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)
