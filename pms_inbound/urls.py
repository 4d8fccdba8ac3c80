from django.urls import path

from .views import pms_webhook

urlpatterns = [
    path("<str:public_id>/", pms_webhook, name="pms_webhook"),
]
