"""A PMS's webhook: /webhooks/pms/<public id>/, outside the admin and its sign-in.

The URL's unguessable id names the connection; the PMS's own verification (a signature
or a shared credential, see each adapter) is the credential. Refused requests answer 401
and are recorded without their body; a verified one is recorded, then applied by a task.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import PmsConnection
from .services import delivery_receive


@csrf_exempt  # verified by the PMS's signature or credential; no browser session here
@require_POST
def pms_webhook(request: HttpRequest, public_id: str) -> JsonResponse:
    connection = PmsConnection.objects.filter(public_id=public_id, active=True).first()
    if connection is None:
        return JsonResponse({"error": "no webhook here"}, status=404)
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > settings.PMS_WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "body too large"}, status=413)
    body = request.read(settings.PMS_WEBHOOK_MAX_BYTES + 1)
    if len(body) > settings.PMS_WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "body too large"}, status=413)
    receipt = delivery_receive(connection=connection, headers=dict(request.headers), body=body)
    answer = {"status": receipt.outcome}
    if receipt.outcome == "refused":
        answer["error"] = "not verified"
    return JsonResponse(answer, status=receipt.http_status)
