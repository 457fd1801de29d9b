"""REST surface of the built-in runner (thin views over `agents.runner`).

    POST /api/agent/runs/        start a run: JSON {"instruction": ..., "wait": seconds?} (or a recording, #18 voice)
    GET  /api/agent/runs/<id>/   read it: status, each model turn and tool call, tokens, time, outcome
"""
import time

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from ..runner.model_client import NOT_CONFIGURED, model_config_for
from ..runner.models import AgentRun
from ..runner.selectors import agent_run_as_dict, agent_run_get
from ..runner.services import agent_run_start
from ..runner.transcribe import MAX_AUDIO_BYTES, TranscriptionFailed, stt_config, transcribe
from ..runner.transcribe import NOT_CONFIGURED as STT_NOT_CONFIGURED
from ..services import api_key_authenticate
from ..tools.dispatch import key_refused
from ..tools.errors import ToolError, envelope_error
from .views import AgentApiView, bearer_token, envelope_response, request_client

# How long a POST may wait for its run to finish before answering 202 with the run as it is.
MAX_WAIT_S = 60
WAIT_POLL_S = 0.05

RUN_SCHEMA = inline_serializer("AgentRun", fields={
    "id": serializers.IntegerField(), "agent": serializers.CharField(),
    "source": serializers.ChoiceField(choices=AgentRun.Source.choices),
    "status": serializers.ChoiceField(choices=AgentRun.Status.choices),
    "instruction": serializers.CharField(), "transcript": serializers.CharField(),
    "reply": serializers.CharField(), "failure_reason": serializers.CharField(), "model": serializers.CharField(),
    "tokens": inline_serializer("AgentRunTokens", fields={"prompt": serializers.IntegerField(),
                                                          "completion": serializers.IntegerField()}),
    "model_calls": serializers.IntegerField(), "tool_calls": serializers.IntegerField(),
    "created_at": serializers.DateTimeField(), "started_at": serializers.DateTimeField(allow_null=True),
    "finished_at": serializers.DateTimeField(allow_null=True), "duration_ms": serializers.FloatField(),
    "steps": serializers.ListField(child=serializers.DictField(),
                                   help_text="Model turns (content, tool_calls, tokens) and tool calls "
                                             "(tool, arguments, result envelope), in order."),
})
RUN_ENVELOPE = inline_serializer("AgentRunEnvelope", fields={"ok": serializers.BooleanField(), "result": RUN_SCHEMA})
ERROR_RESPONSE = OpenApiResponse(description="`{ok: false, error: {code, message, field?, hint?}}`")


def _unauthorized(request: Request) -> Response:
    # Limited per client address like the tool calls (a key-guessing client gets `rate_limited`).
    return envelope_response(envelope_error(key_refused(client=request_client(request))))


class AgentRunStartInputSerializer(serializers.Serializer):
    instruction = serializers.CharField(required=False, allow_blank=True, help_text="What to do, in plain words.")
    audio = serializers.FileField(required=False, help_text="Or a recording of it (multipart/form-data): WAV, FLAC, "
                                                            "OGG or MP3; transcribed, then run.")
    wait = serializers.FloatField(required=False, min_value=0, max_value=MAX_WAIT_S, default=0,
                                  help_text=f"Seconds (≤ {MAX_WAIT_S}) to wait for the run to finish.")


class AgentRunStartApi(AgentApiView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    InputSerializer = AgentRunStartInputSerializer

    @extend_schema(operation_id="agent_run_start", summary="Start a run of the built-in agent", tags=["runner"],
                   request=InputSerializer,
                   responses={200: RUN_ENVELOPE, 202: RUN_ENVELOPE, 400: ERROR_RESPONSE, 401: ERROR_RESPONSE,
                              413: ERROR_RESPONSE,
                              409: OpenApiResponse(description="Refused: no model configured (the run is recorded "
                                                               "as refused; the message says what to set).")})
    def post(self, request: Request) -> Response:
        key = api_key_authenticate(raw=bearer_token(request))
        if key is None:
            return _unauthorized(request)
        data = self.InputSerializer(data=request.data)
        if not data.is_valid():
            name, problems = next(iter(data.errors.items()))
            return envelope_response(envelope_error(ToolError("invalid", f"`{name}`: {problems[0]}", field=name)))
        instruction, transcript, audio_name = data.validated_data.get("instruction", ""), "", ""
        audio = data.validated_data.get("audio")
        if audio is not None:
            refused = _voice_refusal(key.agent)
            if refused is not None:
                return refused
            audio_name = audio.name or "audio"
            try:
                transcript = transcribe(organization=key.organization, filename=audio_name,
                                        data=audio.read(MAX_AUDIO_BYTES + 1))
            except TranscriptionFailed as exc:
                unavailable = exc.reason.startswith("The transcription endpoint")
                return Response({"ok": False, "error": {"code": "stt_unavailable" if unavailable else "invalid",
                                                        "message": exc.reason, "field": "audio"}},
                                status=503 if unavailable else 400)
            instruction = transcript
        try:
            run = agent_run_start(agent=key.agent, instruction=instruction, source=AgentRun.Source.API,
                                  transcript=transcript, audio_name=audio_name)
        except ValidationError as exc:
            name, problems = next(iter(exc.message_dict.items()))
            return envelope_response(envelope_error(ToolError("invalid", problems[0], field=name)))
        if run.status == AgentRun.Status.REFUSED:
            return Response({"ok": False, "error": {"code": "not_configured", "message": run.failure_reason,
                                                    "run_id": run.pk}}, status=409)
        run = _wait(run, seconds=data.validated_data.get("wait") or 0)
        return Response({"ok": True, "result": agent_run_as_dict(run)},
                        status=200 if run.status in AgentRun.FINISHED else 202)


def _voice_refusal(agent) -> Response | None:
    message = NOT_CONFIGURED if model_config_for(agent) is None else STT_NOT_CONFIGURED if stt_config() is None \
        else None
    if message is None:
        return None
    return Response({"ok": False, "error": {"code": "not_configured", "message": message, "field": "audio"}},
                    status=409)


def _wait(run: AgentRun, *, seconds: float) -> AgentRun:
    deadline = time.monotonic() + seconds
    while True:
        fresh = agent_run_get(organization=run.organization_id, run_id=run.pk)
        if fresh.status in AgentRun.FINISHED or time.monotonic() >= deadline:
            return fresh
        time.sleep(WAIT_POLL_S)


class AgentRunDetailApi(AgentApiView):
    @extend_schema(operation_id="agent_run_get", summary="Read a run", tags=["runner"],
                   responses={200: RUN_ENVELOPE, 401: ERROR_RESPONSE, 404: ERROR_RESPONSE})
    def get(self, request: Request, run_id: int) -> Response:
        key = api_key_authenticate(raw=bearer_token(request))
        if key is None:
            return _unauthorized(request)
        run = agent_run_get(organization=key.organization_id, run_id=run_id, agent=key.agent)
        if run is None:
            return envelope_response(envelope_error(ToolError("not_found", f"This agent has no run {run_id}.",
                                                     field="run_id")))
        return Response({"ok": True, "result": agent_run_as_dict(run)})
