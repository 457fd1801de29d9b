"""A pending send_message with a file (suggestive mode): the file waits with its bytes, the approvals page and the
admin show it as its digest, approving from the page (which posts that digest back) sends the whole file, and
once decided (done or rejected) the row keeps the digest only."""
import html
import json
import re

import pytest

from agents.models import Agent, PendingAction
from agents.tools import messaging

from .test_audit_files import PDF, PDF_B64, SUMMARY, _email

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent_files(monkeypatch):
    """The files each real (not dry-run) send_message handed to the channel layer (spied on, still sent)."""
    seen = []
    real = messaging.message_send

    def spy(*, command, dry_run=False, **kwargs):
        if not dry_run:
            seen.extend(command.files)
        return real(command=command, dry_run=dry_run, **kwargs)

    monkeypatch.setattr(messaging, "message_send", spy)
    return seen


def uploads(ghl) -> int:
    return len([r for r in ghl.control.request_log() if r["path"] == "/conversations/messages/upload"])


@pytest.fixture
def careful(agent):
    agent.write_policy = Agent.WritePolicy.APPROVE_WRITES
    agent.save()
    return agent


def ask(call, key, idempotency_key):
    status, body = call(key, "send_message", _email(idempotency_key=idempotency_key))
    assert status == 200 and body["result"]["status"] == "pending_approval", body
    return PendingAction.objects.get(pk=body["result"]["approval_id"])


def stored(action) -> str:
    return json.dumps(PendingAction.objects.get(pk=action.pk).arguments)


def textarea(page, action) -> str:
    """The input the page's approve form posts as it is (what a browser sends when the owner just approves)."""
    article = page.content.decode().split(f'id="pending-{action.pk}"', 1)[1]
    return html.unescape(re.search(r'<textarea name="arguments"[^>]*>(.*?)</textarea>', article, re.S).group(1))


def test_approved_from_the_page_the_file_is_sent_whole_and_not_kept(
        client, admin_client, ghl, maria, org, careful, key, call, sent_files):
    # given a send with a file waiting for approval: the bytes wait with it
    action = ask(call, key, "invoice-approve")
    assert PDF_B64 in stored(action) and sent_files == [] and uploads(ghl) == 0
    # the page and the admin show the file as its digest
    client.force_login(org.memberships.first().user)
    page = client.get(f"/orgs/{org.pk}/agents/activity/")
    assert page.status_code == 200 and PDF_B64[:40] not in page.content.decode()
    shown = json.loads(textarea(page, action))
    assert shown["attachments"] == ["https://example.com/map.png", SUMMARY]
    admin = admin_client.get(f"/admin/agents/pendingaction/{action.pk}/change/")
    assert admin.status_code == 200 and PDF_B64[:40] not in admin.content.decode()
    assert SUMMARY["sha256"] in admin.content.decode()
    # when the owner approves the form as shown
    response = client.post(f"/orgs/{org.pk}/agents/approvals/{action.pk}/",
                           {"decision": "approve", "arguments": textarea(page, action)})
    # then the file went out whole, the input counts as unedited, and the row keeps its digest only
    assert response.status_code == 302
    done = PendingAction.objects.get(pk=action.pk)
    assert done.status == "done" and done.result["ok"] and not done.edited, done.result
    assert [(f.name, f.data) for f in sent_files] == [("invoice.pdf", PDF)] and uploads(ghl) == 1
    assert done.arguments["attachments"] == ["https://example.com/map.png", SUMMARY]
    assert PDF_B64[:40] not in stored(action)


def test_an_edit_on_the_page_keeps_the_file(client, ghl, maria, org, careful, key, call, sent_files):
    action = ask(call, key, "invoice-edit")
    client.force_login(org.memberships.first().user)
    edited = {**json.loads(textarea(client.get(f"/orgs/{org.pk}/agents/activity/"), action)), "text": "Here it is"}
    response = client.post(f"/orgs/{org.pk}/agents/approvals/{action.pk}/",
                           {"decision": "approve", "arguments": json.dumps(edited)})
    assert response.status_code == 302
    done = PendingAction.objects.get(pk=action.pk)
    assert done.status == "done" and done.edited and done.arguments["text"] == "Here it is"
    assert [(f.name, f.data) for f in sent_files] == [("invoice.pdf", PDF)]
    assert PDF_B64[:40] not in stored(action)


def test_rejected_the_file_is_not_kept(client, ghl, maria, org, careful, key, call, sent_files):
    action = ask(call, key, "invoice-reject")
    client.force_login(org.memberships.first().user)
    response = client.post(f"/orgs/{org.pk}/agents/approvals/{action.pk}/", {"decision": "reject"})
    assert response.status_code == 302
    rejected = PendingAction.objects.get(pk=action.pk)
    assert rejected.status == "rejected" and sent_files == [] and uploads(ghl) == 0
    assert rejected.arguments["attachments"] == ["https://example.com/map.png", SUMMARY]
    assert PDF_B64[:40] not in stored(action) and rejected.arguments["text"] == "Your invoice"
