from django.urls import include, path

from controlplane.web import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path("", include("controlplane.accounts.urls")),
    path("", include("controlplane.web.urls")),
    path("api/v1/", include("controlplane.api.urls")),
]
