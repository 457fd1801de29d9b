import threading
import time

from ghl_sandbox import constants as c
from ghl_sandbox.ratelimit import RateLimiter

LOC = c.DEMO_LOCATION_ID
HEADERS = ("X-RateLimit-Limit-Daily", "X-RateLimit-Daily-Remaining", "X-RateLimit-Interval-Milliseconds",
           "X-RateLimit-Max", "X-RateLimit-Remaining")


def test_every_response_carries_the_five_headers_with_ghl_defaults(api, make_api):
    ok = api.get(f"/locations/{LOC}")
    unauthenticated = make_api(None).get(f"/locations/{LOC}")
    for resp in (ok, unauthenticated):
        assert all(h in resp.headers for h in HEADERS)
    assert ok.headers["X-RateLimit-Max"] == "100"
    assert ok.headers["X-RateLimit-Interval-Milliseconds"] == "10000"
    assert ok.headers["X-RateLimit-Limit-Daily"] == "200000"


def test_shrunk_limit_counts_down_refuses_with_429_and_window_slides(sandbox, api):
    # given
    sandbox.control.rate_limits(max=5, interval_ms=1000, daily=1000)

    # when
    first = [api.get(f"/locations/{LOC}") for _ in range(5)]
    started = time.monotonic()
    refused = api.get(f"/locations/{LOC}")

    # then
    assert [r.headers["X-RateLimit-Remaining"] for r in first] == ["4", "3", "2", "1", "0"]
    assert [r.headers["X-RateLimit-Daily-Remaining"] for r in first] == ["999", "998", "997", "996", "995"]
    assert refused.status_code == 429
    assert {k: v for k, v in refused.json().items() if k != "traceId"} == {"statusCode": 429,
                                                                          "message": "Too Many Requests"}
    time.sleep(max(0, 1.05 - (time.monotonic() - started)))
    assert api.get(f"/locations/{LOC}").status_code == 200


def test_window_is_a_sliding_log(sandbox, api):
    sandbox.control.rate_limits(max=4, interval_ms=800, daily=1000)
    api.get(f"/locations/{LOC}")
    api.get(f"/locations/{LOC}")
    time.sleep(0.5)
    api.get(f"/locations/{LOC}")
    api.get(f"/locations/{LOC}")
    assert api.get(f"/locations/{LOC}").status_code == 429
    time.sleep(0.35)  # the first two left the window, the last two have not
    assert api.get(f"/locations/{LOC}").status_code == 200
    assert api.get(f"/locations/{LOC}").status_code == 200
    assert api.get(f"/locations/{LOC}").status_code == 429


def test_limits_are_per_location_and_token_endpoint_is_not_limited(sandbox, api, make_api):
    sandbox.control.rate_limits(max=2, interval_ms=5000)
    other = sandbox.control.seed(name="Other", contacts=0)
    other_api = make_api(sandbox.location_token(other["locationId"])["access_token"])
    api.get(f"/locations/{LOC}")
    api.get(f"/locations/{LOC}")
    assert api.get(f"/locations/{LOC}").status_code == 429
    assert other_api.get(f"/locations/{other['locationId']}").status_code == 200
    for _ in range(3):
        assert sandbox.location_token()["access_token"]


def test_daily_limit(sandbox, api):
    sandbox.control.rate_limits(max=100, interval_ms=10000, daily=3)
    statuses = [api.get(f"/locations/{LOC}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_injected_api_faults_with_seed(sandbox, api):
    sandbox.control.rate_limits(enabled=False)
    sandbox.control.faults(seed=11, api={"http_429": 0.3, "http_5xx": 0.2})
    statuses = [api.get(f"/locations/{LOC}").status_code for _ in range(100)]
    assert 15 <= statuses.count(429) <= 45
    assert 8 <= sum(1 for s in statuses if s >= 500) <= 30
    sandbox.control.clear_faults()
    assert api.get(f"/locations/{LOC}").status_code == 200


def test_injected_latency(sandbox, api):
    sandbox.control.faults(api={"latency_ms": 200})
    started = time.monotonic()
    api.get(f"/locations/{LOC}")
    assert time.monotonic() - started >= 0.2


def test_request_log_filters(sandbox, api):
    sandbox.control.clear_request_log()
    api.get(f"/locations/{LOC}")
    api.get("/contacts/doesnotexist")
    sandbox.location_token()
    log = sandbox.control.request_log()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", f"/locations/{LOC}", 200), ("GET", "/contacts/doesnotexist", 404), ("POST", "/oauth/token", 200)]
    assert log[0]["location_id"] == LOC and log[0]["t"] > 0
    assert log[2]["grant_type"] == "authorization_code"
    assert [r["path"] for r in sandbox.control.request_log(status=404)] == ["/contacts/doesnotexist"]
    assert all("access_token" not in str(r) and "sbx_" not in str(r) for r in log)


def test_a_request_stamped_first_expires_first_however_threads_interleave():
    # given: a window of 2 per second; request A reads the clock (0.0) and is held up there until
    # request B has read it too (0.9), so a limiter that stamps outside its lock appends A after B
    b_started = threading.Event()
    stamps = {"A": 0.0, "B": 0.9, "C": 1.05}

    def clock():
        name = threading.current_thread().name
        if name == "A":
            b_started.wait(0.5)
            time.sleep(0.1)
        elif name == "B":
            b_started.set()
        return stamps[name]

    limiter = RateLimiter({"rate_limit": {"max": 2, "interval_ms": 1000, "daily": 100}}, clock=clock)
    results = {}
    a = threading.Thread(name="A", target=lambda: results.update(A=limiter.hit(("app", "contacts"))[0]))
    b = threading.Thread(name="B", target=lambda: results.update(B=limiter.hit(("app", "contacts"))[0]))
    a.start()
    time.sleep(0.05)
    b.start()
    a.join()
    b.join()

    # when: a third request comes at 1.05, when A (at 0.0) has left the window and B (at 0.9) has not
    c = threading.Thread(name="C", target=lambda: results.update(C=limiter.hit(("app", "contacts"))[0]))
    c.start()
    c.join()

    # then
    assert results == {"A": True, "B": True, "C": True}
