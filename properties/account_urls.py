"""A person's own sign-in pages (under /account/): open to a session still waiting for
its second factor, see properties.two_factor.OPEN_PREFIXES."""

from django.urls import path

from . import account_views

urlpatterns = [
    path("two-factor/", account_views.two_factor_setup, name="two_factor_setup"),
    path("two-factor/verify/", account_views.two_factor_verify, name="two_factor_verify"),
    # The admin's sign-in page links to the reset when "admin_password_reset" exists.
    path(
        "password-reset/",
        account_views.PasswordResetView.as_view(),
        name="admin_password_reset",
    ),
    path(
        "password-reset/sent/",
        account_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        account_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        account_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
