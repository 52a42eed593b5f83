"""The project's URLs and a floor: an API call that does what a decision's call does
on its way in, and nothing after.

``POST /perf/floor/`` goes through the same middleware, DRF's token authentication
(one read of the token and its person, after Django's connection health check),
the same parser and the same input serializer as ``POST /api/v1/tasks/{id}/decision/``,
and answers a small JSON document: no idempotency check, no read of the task, no
decision, no response document. Its throughput with the benchmark's clients and
gunicorn workers is an upper bound for any decision's on this machine
(docs/PERFORMANCE.md, finding 13).
"""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request as DRFRequest
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals.api.serializers import DecisionInputSerializer
from config.urls import urlpatterns as project_urlpatterns


class FloorView(APIView):
    def post(self, request: DRFRequest) -> Response:
        body = DecisionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response({"decision": body.validated_data["decision"], "by": request.user.username})


urlpatterns = [path("perf/floor/", FloorView.as_view()), *project_urlpatterns]
