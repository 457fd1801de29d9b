"""Watermarks of a kind's separately ordered field groups (`SyncKind.mark_groups`), kept on the link.

`ExternalIdentity.remote_updated_at` orders a record's changes; a group the remote also sends in events of its
own (per-channel DND: GHL's ContactDndUpdate) has its own mark in `ExternalIdentity.group_marks` (group name →
ISO time), so those events compete only with the records that carry the group. Used by `inbound.py` (applies)
and `outbox.py` (a push's response carrying the group moves its mark too).
"""
import datetime as dt
from collections.abc import Iterable

from ..models import ExternalIdentity


def group_mark(link: ExternalIdentity, group: str) -> dt.datetime | None:
    """The mark of ``group`` on ``link`` (None: nothing carrying the group applied yet)."""
    value = (link.group_marks or {}).get(group)
    return dt.datetime.fromisoformat(value) if value else None


def advance_group_marks(link: ExternalIdentity, groups: Iterable[str], at: dt.datetime | None) -> None:
    """Move the marks of ``groups`` forwards to ``at`` (unsaved; a mark only ever moves forwards)."""
    if at is None:
        return
    marks = dict(link.group_marks or {})
    for group in groups:
        mark = group_mark(link, group)
        if mark is None or at > mark:
            marks[group] = at.astimezone(dt.UTC).isoformat()
    link.group_marks = marks
