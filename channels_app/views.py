"""The owner's conversations pages: the organization's conversations newest first, one conversation's messages
with their delivery statuses, and a reply box that sends through the same service as the agents
(`channels_app.sending.message_send`: consent, routing, sent once)."""
import uuid

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.models import Conversation, Message
from crm.selectors.conversations import conversation_list, message_page, messages_by_id
from tenancy.permissions import org_member_required

from .conversations import conversation_read
from .errors import ChannelError, ChannelUnavailable
from .sending import IdempotencyConflict, SendCommand, message_send

PAGE = 100
FAMILY_CHANNELS = {"phone": "sms", "email": "email", "whatsapp": "whatsapp"}
READ_ONLY = "Members can read conversations; only an owner or admin of this organization can reply."
MAX_TEXT = 5000


def _conversation(request, conversation_id: int) -> Conversation:
    found = (Conversation.objects.for_org(request.organization).select_related("contact")
             .filter(pk=conversation_id).first())
    if found is None:
        raise Http404("No such conversation")
    return found


@require_GET
@org_member_required
def conversations_page(request):
    rows = list(conversation_list(organization=request.organization,
                                  unread_only=request.GET.get("unread") == "1")[:PAGE])
    last = messages_by_id(organization=request.organization, ids=[r.last_message_pk for r in rows])
    for row in rows:
        row.last_message = last.get(row.last_message_pk)
    return render(request, "channels/conversations.html", {
        "organization": request.organization, "conversations": rows, "unread_only": request.GET.get("unread") == "1",
        "truncated": len(rows) == PAGE})


def _reply_form_errors(text: str, subject: str, channel: str) -> dict[str, str]:
    errors = {}
    if not text.strip():
        errors["text"] = "Write the message."
    elif len(text) > MAX_TEXT:
        errors["text"] = f"At most {MAX_TEXT} characters."
    if len(subject) > 255:
        errors["subject"] = "At most 255 characters."
    return errors


@require_http_methods(["GET", "POST"])
@org_member_required
def conversation_page(request, conversation_id: int):
    conversation = _conversation(request, conversation_id)
    channel = FAMILY_CHANNELS.get(conversation.channel_family, "sms")
    form = {"text": "", "subject": "", "token": uuid.uuid4().hex}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied(READ_ONLY)
        form = {"text": request.POST.get("text", ""), "subject": request.POST.get("subject", "").strip(),
                "token": request.POST.get("token", "")[:64] or uuid.uuid4().hex}
        errors = _reply_form_errors(form["text"], form["subject"], channel)
        if not errors:
            try:
                outcome = message_send(
                    contact=conversation.contact,
                    command=SendCommand(channel=channel, text=form["text"].strip(), subject=form["subject"]),
                    idempotency_key=f"page:{request.user.pk}:{form['token']}",
                    sender_type=Message.SenderType.USER, sender_ref=str(request.user.pk))
            except (ChannelError, IdempotencyConflict) as exc:
                errors["form"] = exc.message + (f" {exc.hint}" if exc.hint else "")
            else:
                if isinstance(outcome.error, ChannelUnavailable):
                    flash.warning(request, f"Saved; not sent yet: {outcome.error.message} It is retried "
                                           "automatically.")
                else:
                    flash.success(request, f"Sent ({outcome.status}).")
                return redirect(reverse("conversation_detail", kwargs={
                    "org_id": request.organization.pk, "conversation_id": conversation.pk}) + "#reply")
        status = 400
    page, more = message_page(organization=request.organization, conversation=conversation, limit=PAGE)
    return render(request, "channels/conversation.html", {
        "organization": request.organization, "conversation": conversation, "thread": page, "more": more,
        "channel": channel, "form": form, "errors": errors, "can_manage": request.membership.can_manage,
    }, status=status)


@require_POST
@org_member_required
def conversation_mark_read_action(request, conversation_id: int):
    if not request.membership.can_manage:
        raise PermissionDenied(READ_ONLY)
    conversation = _conversation(request, conversation_id)
    try:
        conversation_read(conversation=conversation)
        flash.success(request, "Marked read (in GoHighLevel too).")
    except ChannelError as exc:
        flash.error(request, f"Not marked read: {exc.message}")
    return redirect("conversation_detail", org_id=request.organization.pk, conversation_id=conversation.pk)
