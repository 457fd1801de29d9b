"""A pull shortens Python's GIL switch interval while it runs, so its page requests do not queue behind the
page writers for 5 ms at every socket read, and puts it back afterwards."""
import sys
import threading

import pytest

from ghl_integration.sync.pull import contacts_initial_pull, gil_switch_interval


@pytest.fixture
def default_interval():
    before = sys.getswitchinterval()
    yield before
    sys.setswitchinterval(before)


def test_overlapping_users_keep_the_shortest_and_the_last_restores_the_default(default_interval):
    first_in, second_in = threading.Event(), threading.Event()
    first_may_leave, seen = threading.Event(), {}

    def first():
        with gil_switch_interval(0.002):
            seen["first alone"] = sys.getswitchinterval()
            first_in.set()
            second_in.wait(5)
            seen["both"] = sys.getswitchinterval()
            first_may_leave.wait(5)

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with gil_switch_interval(0.001):
        second_in.set()
        first_may_leave.set()
        thread.join(5)
        seen["second after first left"] = sys.getswitchinterval()
    assert seen == {"first alone": pytest.approx(0.002), "both": pytest.approx(0.001),
                    "second after first left": pytest.approx(0.001)}
    assert sys.getswitchinterval() == pytest.approx(default_interval)


def test_zero_leaves_the_interval_alone(default_interval):
    with gil_switch_interval(0):
        assert sys.getswitchinterval() == pytest.approx(default_interval)


@pytest.mark.django_db
def test_a_pull_runs_with_the_configured_interval_and_restores_it(ghl, connection, settings, default_interval):
    settings.GHL_SYNC_PULL_GIL_SWITCH_MS = 0.5
    during = []

    result = contacts_initial_pull(connection=connection, on_page=lambda run: during.append(sys.getswitchinterval()))

    assert result.run.status == "succeeded" and during
    assert during == [pytest.approx(0.0005)] * len(during)
    assert sys.getswitchinterval() == pytest.approx(default_interval)
