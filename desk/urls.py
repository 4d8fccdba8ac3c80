"""The front desk's pages, under /admin/desk/ (signed in through the admin)."""

from django.contrib import admin
from django.urls import path

from . import views

view = admin.site.admin_view

urlpatterns = [
    path("", view(views.front_desk_view), name="front_desk"),
    path("search/", view(views.search_view), name="desk_search"),
    path("stay/<int:reservation_id>/reveal/", view(views.reveal_view), name="desk_reveal"),
    path("stay/<int:reservation_id>/copied/", view(views.copied_view), name="desk_copied"),
    path("stay/<int:reservation_id>/link/", view(views.link_view), name="desk_link"),
    path(
        "stay/<int:reservation_id>/link-copied/",
        view(views.link_copied_view),
        name="desk_link_copied",
    ),
    path("stay/<int:reservation_id>/email/", view(views.email_view), name="desk_email"),
]
