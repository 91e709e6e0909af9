from django.conf import settings
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from billing.views import stripe_webhook
from compliance.packages.views import signing_keys
from controlplane.api.views.fallback import NotFoundView
from controlplane.web import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path(
        "favicon.ico",
        RedirectView.as_view(url=f"{settings.STATIC_URL}favicon.svg", permanent=True),
    ),
    path("billing/stripe/webhook", stripe_webhook, name="stripe-webhook"),
    path("compliance/signing-keys", signing_keys, name="compliance_signing_keys"),
    path("", include("controlplane.accounts.urls")),
    path("", include("controlplane.web.urls")),
    path("api/v1/", include("controlplane.api.urls")),
    # OpenAPI 3: YAML, or JSON with ?format=json. The docs page loads Swagger UI from
    # this app's static files (SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"]).
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", NotFoundView.as_view()),
]
