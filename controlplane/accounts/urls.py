from django.urls import path

from controlplane.accounts import token_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/mfa/", views.mfa_verify_view, name="mfa_verify"),
    path("logout/", views.logout_view, name="logout"),
    path("account/", views.account_view, name="account"),
    path("account/password/", views.password_change_view, name="password_change"),
    path("account/mfa/setup/", views.mfa_setup_view, name="mfa_setup"),
    path("account/mfa/disable/", views.mfa_disable_view, name="mfa_disable"),
    path("account/mfa/recovery-codes/", views.recovery_codes_view, name="recovery_codes"),
    path("account/tokens/", token_views.tokens_view, name="tokens"),
    path("account/tokens/<uuid:pk>/revoke/", token_views.token_revoke_view, name="token_revoke"),
    path("password-reset/", views.ResetRequestView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.ResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        views.ResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/complete/",
        views.ResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
]
