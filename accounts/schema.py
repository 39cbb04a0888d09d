"""OpenAPI: describe dgt's JWT authentication as a bearer JWT scheme (drf-spectacular)."""
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class DgtJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"
