"""Voice commands: a recording → the transcription endpoint (with the organization's vocabulary) → a run."""
import io

import pytest
import soundfile

from agents.models import AgentRun
from agents.runner.transcribe import organization_vocabulary
from crm.models import Calendar
from crm.services.contacts import contact_create
from tests.agents.fake_model import say
from tests.agents.fake_transcriber import AUDIO

pytestmark = pytest.mark.django_db(transaction=True)

RECORDING = AUDIO / "move_acme_to_proposal_sent.wav"


@pytest.fixture
def stt(fake_model, settings):
    settings.AGENT_STT_BASE_URL = fake_model.base_url
    settings.AGENT_STT_MODEL = "whisper-fake"
    fake_model.rule("acme")(lambda m, c: say(f"heard: {c.user}"))
    return fake_model


def post_audio(client, key, name, data):
    upload = io.BytesIO(data)
    upload.name = name
    response = client.post("/api/agent/runs/", {"audio": upload}, HTTP_AUTHORIZATION=f"Bearer {key}")
    return response.status_code, response.json()


def converted(fmt: str, subtype: str | None = None) -> bytes:
    samples, rate = soundfile.read(RECORDING)
    out = io.BytesIO()
    soundfile.write(out, samples, rate, format=fmt, subtype=subtype)
    return out.getvalue()


def test_a_wav_recording_is_transcribed_with_the_vocabulary_stored_and_run(client, stt, eager_runs, key, org):
    contact_create(organization=org, first_name="Maria", last_name="Lopez", email="maria@example.com")
    Calendar.objects.create(organization=org, name="Cleanings")
    status, body = post_audio(client, key, "command.wav", RECORDING.read_bytes())
    assert status in (200, 202), body
    run = AgentRun.objects.get(pk=body["result"]["id"])
    assert run.transcript == run.instruction == "Move the Acme deal to Proposal Sent."
    assert run.audio_name == "command.wav" and run.status == "succeeded"
    assert run.reply == "heard: Move the Acme deal to Proposal Sent."
    sent = stt.transcription_requests[0]
    assert sent["model"] == "whisper-fake" and "Maria Lopez" in sent["prompt"] and "Cleanings" in sent["prompt"]


@pytest.mark.parametrize("name, fmt, subtype", [("command.flac", "FLAC", None), ("command.ogg", "OGG", "VORBIS")])
def test_other_formats_are_converted_to_wav(client, stt, eager_runs, key, name, fmt, subtype):
    status, body = post_audio(client, key, name, converted(fmt, subtype))
    assert status in (200, 202), body
    assert body["result"]["transcript"] == "Move the Acme deal to Proposal Sent."
    assert stt.transcription_requests[0]["filename"] == name.rsplit(".", 1)[0] + ".wav"


def test_unreadable_audio_is_a_400_and_no_run(client, stt, key):
    status, body = post_audio(client, key, "command.mp3", b"this is not audio at all")
    assert status == 400 and body["error"]["field"] == "audio" and "could not be read" in body["error"]["message"]
    assert not AgentRun.objects.exists() and stt.transcription_requests == []


def test_nothing_heard_is_a_clear_400(client, stt, key):
    samples, rate = soundfile.read(RECORDING)
    out = io.BytesIO()
    soundfile.write(out, samples[: len(samples) // 3], rate, format="WAV")
    status, body = post_audio(client, key, "short.wav", out.getvalue())
    assert status == 400 and "Nothing was heard" in body["error"]["message"]


def test_without_a_transcription_endpoint_audio_runs_are_refused(client, fake_model, settings, key):
    settings.AGENT_STT_BASE_URL = ""
    status, body = post_audio(client, key, "command.wav", RECORDING.read_bytes())
    assert status == 409 and body["error"]["code"] == "not_configured"
    assert "AGENT_STT_BASE_URL" in body["error"]["message"] and not AgentRun.objects.exists()


def test_a_transcription_endpoint_down_is_a_503(client, fake_model, settings, key):
    settings.AGENT_STT_BASE_URL, settings.AGENT_STT_MODEL = "http://127.0.0.1:9/v1", "whisper-fake"
    status, body = post_audio(client, key, "command.wav", RECORDING.read_bytes())
    assert status == 503 and body["error"]["code"] == "stt_unavailable" and "could not be reached" in \
        body["error"]["message"]


def test_the_vocabulary_is_the_organizations_own(org, org_factory):
    other = org_factory("Other")
    contact_create(organization=org, first_name="Maria", last_name="Lopez", email="m@example.com")
    contact_create(organization=other, first_name="Secret", last_name="Person", email="s@example.com")
    words = organization_vocabulary(org)
    assert "Maria Lopez" in words and "Secret Person" not in words
