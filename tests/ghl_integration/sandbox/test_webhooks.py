import base64
import json
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from ghl_sandbox import constants as c
from ghl_sandbox.testing import WebhookReceiver
from tests.fixtures.ghl import WEBHOOKS_DIR

LOC = c.DEMO_LOCATION_ID
KEYS = Path(c.__file__).parent / "dev_keys"
EXAMPLES = WEBHOOKS_DIR


def _verify(record) -> None:
    ed = serialization.load_pem_public_key((KEYS / "ed25519_public.pem").read_bytes())
    rsa = serialization.load_pem_public_key((KEYS / "rsa_public.pem").read_bytes())
    ed.verify(base64.b64decode(record["headers"]["x-ghl-signature"]), record["body"])
    rsa.verify(base64.b64decode(record["headers"]["x-wh-signature"]), record["body"], padding.PKCS1v15(),
               hashes.SHA256())


def _example_keys(name: str) -> set:
    return set(json.loads((EXAMPLES / f"{name}.json").read_text()))


def test_api_changes_emit_signed_webhooks_shaped_like_ghl_examples(sandbox, api):
    with WebhookReceiver() as rx:
        # given
        sandbox.control.webhooks(urls=[rx.url])

        # when
        contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Hook", "email": "hook@example.com",
                                               "phone": "+15035550333"}).json()["contact"]
        api.post(f"/contacts/{contact['id']}/tags", json={"tags": ["vip"]})
        api.post("/conversations/messages", json={"type": "SMS", "contactId": contact["id"], "message": "Hi"})
        sandbox.control.wait_webhooks()

        # then
        records = rx.wait_for(4)
        types = [r["json"]["type"] for r in rx.received]
        assert types == ["ContactCreate", "ContactUpdate", "ContactTagUpdate", "OutboundMessage"]
        for record in rx.received:
            _verify(record)
            assert record["json"]["locationId"] == LOC and record["json"]["timestamp"].endswith("Z")
        assert len({r["webhookId"] for r in records}) == 4
        assert set(rx.received[0]["json"]) == _example_keys("ContactCreate")
        assert set(rx.received[2]["json"]["tags"]) == {"vip"}
        assert set(rx.received[3]["json"]) == _example_keys("OutboundMessage")
        assert rx.received[0]["body"] == json.dumps(rx.received[0]["json"], separators=(",", ":")).encode()


def test_control_changes_emit_like_a_person_in_ghl(sandbox, api):
    pipeline = api.get("/opportunities/pipelines", params={"locationId": LOC}).json()["pipelines"][0]
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Ctl"}).json()["contact"]
    opp = api.post("/opportunities/", json={"locationId": LOC, "pipelineId": pipeline["id"], "name": "D",
                                            "status": "open", "contactId": contact["id"]}).json()["opportunity"]
    with WebhookReceiver() as rx:
        sandbox.control.webhooks(urls=[rx.url], emit_generic_update=False)

        sandbox.control.change("opportunity.update", opportunityId=opp["id"],
                               pipelineStageId=pipeline["stages"][1]["id"], monetaryValue=99)
        sandbox.control.change_contact("dnd", contactId=contact["id"], dnd=True,
                                       dndSettings={"SMS": {"status": "active", "message": "STOP", "code": "21610"}})
        sandbox.control.inbound_message(contact["id"], "Can I come Saturday?")
        sandbox.control.change_contact("delete", contactId=contact["id"])
        sandbox.control.wait_webhooks()

        types = [e["type"] for e in rx.events()]
        assert types == ["OpportunityStageUpdate", "OpportunityMonetaryValueUpdate", "ContactDndUpdate",
                         "InboundMessage", "ConversationUnreadUpdate", "ContactDelete"]
        assert set(rx.events("OpportunityStageUpdate")[0]) == _example_keys("OpportunityStageUpdate")
        assert set(rx.events("ContactDndUpdate")[0]) == _example_keys("ContactDndUpdate")
        assert set(rx.events("InboundMessage")[0]) == _example_keys("InboundMessage")
        assert set(rx.events("ConversationUnreadUpdate")[0]) == _example_keys("ConversationUnreadWebhook")


def test_appointment_events(sandbox, api):
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Appt"}).json()["contact"]
    with WebhookReceiver() as rx:
        sandbox.control.webhooks(urls=[rx.url])
        booked = sandbox.control.change("appointment.book", locationId=LOC, calendarId=c.DEMO_CALENDAR_ID,
                                        contactId=contact["id"], startTime="2031-01-06T10:00:00-05:00",
                                        ignoreFreeSlotValidation=True)["appointment"]
        sandbox.control.change("appointment.cancel", eventId=booked["id"])
        api.delete(f"/calendars/events/{booked['id']}", json={})
        sandbox.control.wait_webhooks()
        events = rx.events()
        assert [e["type"] for e in events] == ["AppointmentCreate", "AppointmentUpdate", "AppointmentDelete"]
        assert set(events[0]) == _example_keys("AppointmentCreate")
        assert set(events[0]["appointment"]) == set(json.loads((EXAMPLES / "AppointmentCreate.json").read_text())[
            "appointment"])
        assert events[1]["appointment"]["appointmentStatus"] == "cancelled"


def test_install_and_uninstall_events(sandbox):
    with WebhookReceiver() as rx:
        sandbox.control.webhooks(urls=[rx.url])
        sandbox.control.uninstall(locationId=LOC)
        sandbox.control.change_contact("create", locationId=LOC, firstName="Silent")  # not installed: no event
        sandbox.control.install(locationId=LOC)
        sandbox.control.install(companyId=c.DEMO_COMPANY_ID)
        sandbox.control.wait_webhooks()
        events = rx.events()
        assert [e["type"] for e in events] == ["UNINSTALL", "INSTALL", "INSTALL"]
        assert set(events[0]) == _example_keys("AppUninstall")
        assert set(events[1]) == _example_keys("AppInstall")
        assert "locationId" not in events[2] and events[2]["companyId"] == c.DEMO_COMPANY_ID


def test_no_retry_after_5xx(sandbox, api):
    with WebhookReceiver(statuses=[500]) as rx:
        sandbox.control.webhooks(urls=[rx.url], retry_spacing_s=0.05, retry_jitter_s=0)
        api.post("/contacts/", json={"locationId": LOC, "firstName": "Five"})
        sandbox.control.wait_webhooks()
        time.sleep(0.2)
        assert len(rx.received) == 1
        log = sandbox.control.webhook_deliveries(type="ContactCreate")
        assert [(d["status"], d["attempt"], d["outcome"]) for d in log] == [(500, 1, "failed")]


def test_retries_after_429_with_configured_spacing_up_to_six_times(sandbox, api):
    with WebhookReceiver(statuses=[429, 429]) as rx:
        sandbox.control.webhooks(urls=[rx.url], retry_spacing_s=0.2, retry_jitter_s=0)
        api.post("/contacts/", json={"locationId": LOC, "firstName": "Retry"})
        assert sandbox.control.wait_webhooks(timeout=5)
        assert [r["status"] for r in rx.received] == [429, 429, 200]
        assert len({r["json"]["webhookId"] for r in rx.received}) == 1
        assert rx.received[1]["t"] - rx.received[0]["t"] >= 0.18
        log = sandbox.control.webhook_deliveries(type="ContactCreate")
        assert [(d["attempt"], d["outcome"]) for d in log] == [(1, "retry_scheduled"), (2, "retry_scheduled"),
                                                               (3, "delivered")]
    with WebhookReceiver(statuses=[429] * 10) as rx:
        sandbox.control.webhooks(urls=[rx.url], retry_spacing_s=0.01)
        api.post("/contacts/", json={"locationId": LOC, "firstName": "Give up"})
        assert sandbox.control.wait_webhooks(timeout=5)
        assert len(rx.received) == 7  # the first attempt + 6 retries


def test_fault_shares_with_fixed_seed(sandbox):
    with WebhookReceiver() as rx:
        sandbox.control.webhooks(urls=[rx.url])
        sandbox.control.faults(seed=7, webhook={"drop": 0.2, "duplicate": 0.2})
        for n in range(100):
            sandbox.control.change_contact("create", locationId=LOC, firstName=f"F{n}")
        sandbox.control.wait_webhooks(timeout=20)
        ids = [e["webhookId"] for e in rx.events()]
        dropped = sandbox.control.webhook_deliveries(outcome="dropped")
        assert 10 <= len(dropped) <= 30
        duplicates = len(ids) - len(set(ids))
        assert 8 <= duplicates <= 30
        assert len(set(ids)) == 100 - len(dropped)


def test_reorder_fault_delivers_later_events_first(sandbox):
    with WebhookReceiver() as rx:
        sandbox.control.webhooks(urls=[rx.url], reorder_hold_s=1.0)
        sandbox.control.faults(seed=3, webhook={"reorder": 0.3})
        for n in range(30):
            sandbox.control.change_contact("create", locationId=LOC, firstName=f"R{n}")
        sandbox.control.wait_webhooks(timeout=20)
        names = [e["firstName"] for e in rx.events()]
        assert sorted(names) == sorted(f"R{n}" for n in range(30))
        assert names != [f"R{n}" for n in range(30)]


def test_delay_fault_does_not_block_api(sandbox, api):
    with WebhookReceiver() as rx:
        sandbox.control.webhooks(urls=[rx.url])
        sandbox.control.faults(seed=1, webhook={"delay": 1.0, "delay_s": 0.5})
        started = time.monotonic()
        api.post("/contacts/", json={"locationId": LOC, "firstName": "Late"})
        assert time.monotonic() - started < 0.4
        assert rx.received == []
        rx.wait_for(1, timeout=3)
        assert len(rx.received) == 1


def test_no_retry_after_timeout(sandbox, api):
    with WebhookReceiver(statuses=[429], delay_s=0.5) as rx:
        sandbox.control.webhooks(urls=[rx.url], timeout_s=0.2, retry_spacing_s=0.01, retry_jitter_s=0)
        api.post("/contacts/", json={"locationId": LOC, "firstName": "Slow"})
        assert sandbox.control.wait_webhooks(timeout=5)
        time.sleep(0.1)
        log = sandbox.control.webhook_deliveries(type="ContactCreate")
        assert [(d["status"], d["error"], d["outcome"]) for d in log] == [(None, "timeout", "failed")]
        assert len(rx.received) == 1


def test_every_delivery_goes_to_every_configured_url(sandbox, api):
    with WebhookReceiver() as a, WebhookReceiver() as b:
        sandbox.control.webhooks(urls=[a.url, b.url])
        api.post("/contacts/", json={"locationId": LOC, "firstName": "Both"})
        sandbox.control.wait_webhooks()
        assert [e["webhookId"] for e in a.events()] == [e["webhookId"] for e in b.events()]
        assert len(sandbox.control.webhook_deliveries(outcome="delivered")) == 2


def test_email_and_status_payloads_match_examples(sandbox, api):
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Mail",
                                           "email": "mail@example.com"}).json()["contact"]
    pipeline = api.get("/opportunities/pipelines", params={"locationId": LOC}).json()["pipelines"][0]
    opp = api.post("/opportunities/", json={"locationId": LOC, "pipelineId": pipeline["id"], "name": "D",
                                            "status": "open", "contactId": contact["id"]}).json()["opportunity"]
    with WebhookReceiver() as rx:
        sandbox.control.webhooks(urls=[rx.url])
        api.post("/conversations/messages", json={"type": "Email", "contactId": contact["id"], "subject": "Hi",
                                                  "html": "<p>Hi</p>"})
        api.put(f"/opportunities/{opp['id']}/status", json={"status": "won"})
        api.put(f"/opportunities/{opp['id']}", json={"assignedTo": c.DEMO_USER_ID})
        sandbox.control.wait_webhooks()

        email = rx.events("OutboundMessage")[0]
        variant = json.loads((EXAMPLES / "variants" / "OutboundMessage.Email.json").read_text())
        assert set(variant) <= set(email)
        assert set(email) <= set(variant) | _example_keys("OutboundMessage") | {"provider", "cc", "bcc", "attachments"}
        assert email["to"] == ["mail@example.com"] and email["messageType"] == "Email"
        types = [e["type"] for e in rx.events()]
        assert types[1:] == ["OpportunityUpdate", "OpportunityStatusUpdate", "OpportunityUpdate",
                             "OpportunityAssignedToUpdate"]
        assert set(rx.events("OpportunityStatusUpdate")[0]) == _example_keys("OpportunityStatusUpdate")
        assert rx.events("OpportunityStatusUpdate")[0]["status"] == "won"
