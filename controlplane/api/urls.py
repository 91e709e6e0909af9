from django.urls import path

from controlplane.api import views

app_name = "api"

urlpatterns = [
    path("me", views.me, name="me"),
]
