import pytest


@pytest.fixture
def org_factory(db):
    """``org_factory(name=None, owner=None, region="US")``: an organisation and its owner (`OrganizationFactory`)."""
    from tests.factories import OrganizationFactory

    def make(name: str | None = None, owner=None, region: str = "US"):
        fields = {"default_phone_region": region}
        if name is not None:
            fields["name"] = name
        if owner is not None:
            fields["owner"] = owner
        return OrganizationFactory(**fields)

    return make


@pytest.fixture(autouse=True)
def drain_request_per_event(monkeypatch):
    """Every stored webhook event requests its drain, as without Redis: a debounce flag left in the test Redis
    by an earlier test would otherwise swallow a later test's drain. The debounce's own tests turn it on."""
    from ghl_integration.webhooks import tuning

    monkeypatch.setattr(tuning, "DOORBELL", tuning.DoorbellTuning(debounce=False))


@pytest.fixture(autouse=True)
def rate_limiter_per_test(settings):
    """Our GHL rate limiter's window, like the sandbox's counters (reset before each test), starts empty in each
    test: requests of earlier tests to the same demo location would otherwise count against this one (a push
    that finds no slot within a second is rescheduled, so it would not happen in the test)."""
    import uuid

    settings.GHL_RATE_LIMIT_KEY_PREFIX = f"ghl:rl:t:{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def product_celery_app_stays_current():
    """Every test leaves the product's Celery app the current one. A `Celery(...)` made in a test becomes current
    unless told otherwise, and shared tasks then resolve to it (no eager mode, no routes): later tests' pushes
    and drain rings silently go nowhere. Fail the test that did it, and put the product's app back."""
    from celery import _state

    from config.celery import app

    yield
    current = _state.get_current_app()
    if current is not app:
        app.set_current()
        app.set_default()
        pytest.fail(f"the test left another Celery app current ({current!r}): make it with set_as_current=False")
