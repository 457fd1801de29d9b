"""Voice commands: a recording → text, through an OpenAI-compatible `/audio/transcriptions` endpoint.

The organization's vocabulary (contact, deal, pipeline, stage and calendar names) goes as the `prompt`, so names
are heard right. WAV is sent as it is; other formats libsndfile reads (FLAC, OGG/Vorbis, MP3, AIFF, …) are
decoded with `soundfile` and sent as 16-bit mono WAV, which every server (whisper.cpp too) accepts. No
embedded recognizer is kept: without `AGENT_STT_BASE_URL` / `AGENT_STT_MODEL`, voice runs are refused.
"""
import io
import logging
from dataclasses import dataclass

import openai
from django.conf import settings

from crm.models import Calendar, Contact, Opportunity, Pipeline, PipelineStage

from .model_client import NO_KEY

logger = logging.getLogger(__name__)

MAX_AUDIO_BYTES = 25 * 1024 * 1024  # OpenAI's limit for one file
CALL_TIMEOUT_S = 60.0
# Whisper reads about 224 tokens of prompt; names past this are left out (the most recent first).
VOCABULARY_MAX_CHARS = 800
VOCABULARY_PER_KIND = 60

NOT_CONFIGURED = (
    "Voice commands need a speech-to-text endpoint: set AGENT_STT_BASE_URL to an OpenAI-compatible server "
    "(https://api.openai.com/v1, or a local whisper.cpp / faster-whisper server) and AGENT_STT_MODEL (e.g. "
    "whisper-1), and AGENT_STT_API_KEY if it needs one. Text instructions work without it."
)


class TranscriptionFailed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SttConfig:
    base_url: str
    model: str
    api_key: str


def stt_config() -> SttConfig | None:
    base_url, model = (settings.AGENT_STT_BASE_URL or "").strip(), (settings.AGENT_STT_MODEL or "").strip()
    if not base_url or not model:
        return None
    return SttConfig(base_url.rstrip("/"), model, settings.AGENT_STT_API_KEY or NO_KEY)


def organization_vocabulary(organization) -> str:
    """The names this organization's instructions mention, most recent first, as one prompt line."""
    names: list[str] = []
    sources = (
        Contact.objects.for_org(organization).active().exclude(full_name="").order_by("-updated_at")
        .values_list("full_name", flat=True),
        Opportunity.objects.for_org(organization).active().order_by("-updated_at").values_list("name", flat=True),
        Pipeline.objects.for_org(organization).active().values_list("name", flat=True),
        PipelineStage.objects.for_org(organization).values_list("name", flat=True),
        Calendar.objects.for_org(organization).active().values_list("name", flat=True),
    )
    for query in sources:
        names.extend(query[:VOCABULARY_PER_KIND])
    seen, line = set(), ""
    for name in names:
        name = " ".join(str(name).split())
        if not name or name.lower() in seen:
            continue
        candidate = f"{line}, {name}" if line else name
        if len(candidate) > VOCABULARY_MAX_CHARS:
            break
        seen.add(name.lower())
        line = candidate
    return line


def as_wav(filename: str, data: bytes) -> tuple[str, bytes]:
    """(file name, WAV bytes): WAV unchanged, anything libsndfile decodes converted; else TranscriptionFailed."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return filename or "audio.wav", data
    import soundfile

    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="int16", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, TypeError, ValueError) as exc:
        raise TranscriptionFailed(f"The recording could not be read as audio ({exc}). Send WAV, FLAC, OGG or MP3.")
    mono = samples.mean(axis=1).astype("int16")
    out = io.BytesIO()
    soundfile.write(out, mono, rate, format="WAV", subtype="PCM_16")
    stem = (filename or "audio").rsplit(".", 1)[0]
    return f"{stem}.wav", out.getvalue()


def transcribe(*, organization, filename: str, data: bytes) -> str:
    """The recording's text, or TranscriptionFailed with a reason a person can act on."""
    config = stt_config()
    if config is None:
        raise TranscriptionFailed(NOT_CONFIGURED)
    if not data:
        raise TranscriptionFailed("The recording is empty.")
    if len(data) > MAX_AUDIO_BYTES:
        raise TranscriptionFailed(f"The recording is larger than {MAX_AUDIO_BYTES // (1024 * 1024)} MB.")
    name, wav = as_wav(filename, data)
    client = openai.OpenAI(base_url=config.base_url, api_key=config.api_key, max_retries=2, timeout=CALL_TIMEOUT_S)
    try:
        answer = client.audio.transcriptions.create(model=config.model, file=(name, wav, "audio/wav"),
                                                    prompt=organization_vocabulary(organization) or openai.omit)
    except openai.APITimeoutError:
        raise TranscriptionFailed(f"The transcription endpoint {config.base_url} did not answer within "
                                  f"{CALL_TIMEOUT_S:g} s.")
    except openai.APIConnectionError:
        raise TranscriptionFailed(f"The transcription endpoint {config.base_url} could not be reached.")
    except openai.APIStatusError as exc:
        raise TranscriptionFailed(f"The transcription endpoint {config.base_url} answered HTTP {exc.status_code}.")
    text = " ".join(str(getattr(answer, "text", "") or "").split())
    if not text:
        raise TranscriptionFailed("Nothing was heard in the recording.")
    return text
