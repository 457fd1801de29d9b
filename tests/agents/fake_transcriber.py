"""The fake model server's `/audio/transcriptions`: a stand-in for whisper that knows the committed recordings.

It decodes the uploaded file as WAV (so a conversion that broke the audio is caught), and answers the text of the
committed recording with the same duration (±2 %); anything else is "heard" as an empty text. It records each
request's model, file name and prompt (the organization's vocabulary).
"""
import io
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import soundfile

AUDIO = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
KNOWN = {"move_acme_to_proposal_sent.wav": "Move the Acme deal to Proposal Sent."}


def _duration(data: bytes) -> float:
    info = soundfile.info(io.BytesIO(data))
    return info.frames / info.samplerate


def _known_durations() -> list[tuple[float, str]]:
    return [(_duration((AUDIO / name).read_bytes()), text) for name, text in KNOWN.items()]


def _parts(headers, payload: bytes) -> dict[str, tuple[str | None, bytes]]:
    message = BytesParser(policy=default).parsebytes(
        f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + payload)
    out = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        out[name] = (part.get_filename(), part.get_payload(decode=True))
    return out


def answer_transcription(model, headers, payload: bytes) -> tuple[int, dict]:
    parts = _parts(headers, payload)
    filename, audio = parts.get("file", (None, b""))
    record = {"model": (parts.get("model") or (None, b""))[1].decode(), "filename": filename,
              "prompt": (parts.get("prompt") or (None, b""))[1].decode(), "bytes": len(audio)}
    model.transcription_requests.append(record)
    if not audio.startswith(b"RIFF"):
        return 400, {"error": {"message": "this server reads WAV only"}}
    seconds = _duration(audio)
    for known, text in _known_durations():
        if abs(seconds - known) <= 0.02 * known:
            return 200, {"text": text}
    return 200, {"text": ""}
