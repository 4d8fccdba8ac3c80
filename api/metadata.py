"""What OPTIONS answers: the fields each write of an endpoint takes."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import clone_request


class KeystayMetadata(SimpleMetadata):
    """DRF's metadata, except that a PUT is checked against an object only when its URL
    names one.

    DRF assumes every PUT updates the object of its URL and calls `get_object()`; a PUT on
    a list route (the reservation upsert by external id) names no object, and
    `get_object()` fails there with an assertion: a 500 for a plain OPTIONS request.
    """

    def determine_actions(self, request, view):
        actions = {}
        for method in {"PUT", "POST"} & set(view.allowed_methods):
            view.request = clone_request(request, method)
            try:
                view.check_permissions(view.request)
                if method == "PUT" and self._names_an_object(view):
                    view.get_object()  # object permissions (and 404 for another org's)
            except (exceptions.APIException, PermissionDenied, Http404):
                pass
            else:
                actions[method] = self.get_serializer_info(view.get_serializer())
            finally:
                view.request = request
        return actions

    @staticmethod
    def _names_an_object(view) -> bool:
        lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", "pk")
        return hasattr(view, "get_object") and lookup in getattr(view, "kwargs", {})
