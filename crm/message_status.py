"""The delivery-status state machine of an outbound message: pending → queued → sent → delivered → read,
or failed / undelivered (with the provider's reason). Statuses only move forwards: status events arrive out
of order and a poll may read an older state, so news older than what we hold is ignored.
"""

RANK = {"pending": 0, "queued": 1, "sent": 2, "delivered": 3, "read": 4}
FAILURES = ("failed", "undelivered")
FINAL = ("read", *FAILURES)


def status_may_move(current: str, new: str) -> bool:
    """True when an outbound message in `current` may take `new`.

    A failure can end any status short of delivered (a delivered message that "fails" later is stale news);
    nothing leaves a final status; every other move must go up the ranks.
    """
    if current == new or current in FINAL or current == "received":
        return False
    if new in FAILURES:
        return RANK.get(current, 0) < RANK["delivered"]
    if new not in RANK:
        return False
    return RANK[new] > RANK.get(current, 0)
