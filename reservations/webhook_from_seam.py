"""Seam's webhook: /webhooks/seam/<connection id>/, outside the admin and its sign-in.

The Svix signature, checked with the connection's webhook secret by Seam's SDK, is the only
credential: a request that is unsigned, tampered with or older than Svix's tolerance gets a
400 and changes nothing. A signed event is recorded at most once (Svix delivers again until
it gets a 2xx, and may deliver twice anyway), so every 2xx answer is final.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from locks.gateway import UnreadableEvent, WebhookRejected, verify_webhook
from locks.models import LockProviderConnection

from .events import event_record

logger = logging.getLogger(__name__)


@csrf_exempt  # signed by Svix instead; there is no browser session here
@require_POST
def seam_webhook(request: HttpRequest, connection_id: int) -> JsonResponse:
    connection = LockProviderConnection.objects.filter(pk=connection_id).first()
    if connection is None or not connection.has_webhook:
        # One answer for an id that does not exist and for a connection without a webhook
        # secret, so that nobody learns from it which connection ids exist.
        return JsonResponse({"error": "no webhook here"}, status=404)
    try:
        event = verify_webhook(
            secret=connection.webhook_secret,
            payload=request.body,
            headers=dict(request.headers),
        )
    except WebhookRejected as error:
        # Never the body: it is not known to be Seam's, and could hold anything.
        logger.warning("Seam webhook for connection %s refused: %s", connection_id, error)
        return JsonResponse({"error": "invalid signature"}, status=400)
    except UnreadableEvent as error:
        # Seam's own delivery, but no event Keystay can read: a retry would bring the same,
        # so it is acknowledged (a 2xx stops Svix's retries) and logged once.
        logger.error("Seam webhook for connection %s unreadable: %s", connection_id, error)
        return JsonResponse({"ignored": "unreadable"})
    outcome = event_record(connection=connection, event=event)
    return JsonResponse({"status": outcome})
