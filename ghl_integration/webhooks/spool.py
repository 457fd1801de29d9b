"""Local spool: where a verified event goes when the database cannot take the INSERT.

One file per event (`<received>-<uuid>.json`), written to a temporary name, fsynced and renamed into place,
so a reader never sees half a file and concurrent writers never interleave. `webhook_spool_drain` (a periodic
task, and the `drain_webhook_spool` command for hosts without a worker) stores each file through the same
dedup INSERT as the endpoint and deletes the file only after the row is committed (or found to be a
duplicate). A file that cannot be read is moved to `rejected/` and logged, never deleted.
"""

import base64
import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

SPOOL_SUFFIX = ".json"
REJECTED_DIR = "rejected"


@dataclass(frozen=True)
class SpooledEvent:
    path: Path
    body: bytes
    headers: dict
    signature_algorithm: str
    received_at: datetime


def spool_dir() -> Path | None:
    configured = settings.GHL_WEBHOOK_SPOOL_DIR
    return Path(configured) if configured else None


def spool_write(*, body: bytes, headers: dict, signature_algorithm: str, received_at: datetime) -> Path:
    """Durably write one event; raises OSError (or RuntimeError when the spool is disabled)."""
    directory = spool_dir()
    if directory is None:
        raise RuntimeError("webhook spool is disabled (GHL_WEBHOOK_SPOOL_DIR is empty)")
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "body_b64": base64.b64encode(body).decode(),
        "headers": headers,
        "signature_algorithm": signature_algorithm,
        "received_at": received_at.isoformat(),
    }
    name = f"{received_at.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex}"
    tmp = directory / f".{name}.tmp"
    final = directory / f"{name}{SPOOL_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, json.dumps(record).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
    return final


def spool_pending(limit: int = 1000) -> list[Path]:
    directory = spool_dir()
    if directory is None or not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == SPOOL_SUFFIX and p.is_file())[:limit]


def spool_read(path: Path) -> SpooledEvent:
    record = json.loads(path.read_bytes())
    return SpooledEvent(
        path=path,
        body=base64.b64decode(record["body_b64"], validate=True),
        headers=dict(record.get("headers") or {}),
        signature_algorithm=str(record.get("signature_algorithm") or ""),
        received_at=datetime.fromisoformat(record["received_at"]),
    )


def spool_reject(path: Path, reason: str) -> None:
    rejected = path.parent / REJECTED_DIR
    rejected.mkdir(exist_ok=True)
    os.replace(path, rejected / path.name)
    logger.error("ghl.webhook.spool-file-rejected", extra={"path": str(path), "reason": reason})


def spool_remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass  # another drainer got there first
