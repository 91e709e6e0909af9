"""Stripe's webhook: signed deliveries of payment events, applied once."""

from __future__ import annotations

import stripe
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.stripe_sync import webhook_handle
from controlplane.api.problems import PROBLEM_MEDIA_TYPE, TYPE_PREFIX


@csrf_exempt  # Stripe signs the body instead (Stripe-Signature)
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        result = webhook_handle(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except (stripe.SignatureVerificationError, ValueError) as exc:
        return JsonResponse(
            {
                "type": f"{TYPE_PREFIX}bad-signature",
                "title": "Bad request.",
                "status": 400,
                "detail": f"not a signed Stripe event: {exc}",
            },
            status=400,
            content_type=PROBLEM_MEDIA_TYPE,
        )
    return JsonResponse({"result": result})
