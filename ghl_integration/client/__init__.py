"""GoHighLevel API client. See README.md in this package.

client = GhlClient(location_id="loc_123", token_provider=provider)
for contact in client.contacts.iter_search(filters=[{"field": "tags", "operator": "eq", "value": "vip"}]):
    ...
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import requests

from .base import GhlHttp, RetryPolicy, TokenProvider
from .calendars import CalendarsApi
from .contacts import ContactsApi
from .conversations import ConversationsApi
from .exceptions import (
    GhlApiError,
    GhlAuthError,
    GhlInvalidGrant,
    GhlNetworkError,
    GhlNotFound,
    GhlOAuthError,
    GhlRateLimited,
    GhlServerError,
    GhlValidationError,
)
from .locations import LocationsApi
from .oauth import GhlOAuth
from .opportunities import OpportunitiesApi
from .ratelimit import LocalRateLimiter, RateLimitConfig, RateLimiter, RedisRateLimiter, default_rate_limiter
from .users import UsersApi

__all__ = [
    "GhlApiError",
    "GhlAuthError",
    "GhlClient",
    "GhlHttp",
    "GhlInvalidGrant",
    "GhlNetworkError",
    "GhlNotFound",
    "GhlOAuth",
    "GhlOAuthError",
    "GhlRateLimited",
    "GhlServerError",
    "GhlValidationError",
    "LocalRateLimiter",
    "RateLimitConfig",
    "RateLimiter",
    "RedisRateLimiter",
    "RetryPolicy",
    "TokenProvider",
    "default_rate_limiter",
]


class GhlClient:
    """One location's view of the GHL API: ``.contacts``, ``.conversations``, ``.opportunities``, ``.calendars``,
    ``.locations``, ``.users``.

    ``token_provider(force_refresh: bool = False) -> str`` must return a valid access token for ``location_id``;
    it is called before every request, and once with ``force_refresh=True`` after a 401. ``base_url`` defaults to
    ``settings.GHL_API_BASE_URL``; ``rate_limiter`` to the process-wide limiter (Redis when ``REDIS_URL`` is set);
    ``timeout`` to ``(GHL_HTTP_CONNECT_TIMEOUT, GHL_HTTP_TIMEOUT)``. Every request counts against ``location_id``'s
    quota. A client is cheap; it holds one pooled ``requests.Session`` (pass ``session`` to share one).
    """

    def __init__(
        self,
        *,
        location_id: str,
        token_provider: TokenProvider,
        base_url: str | None = None,
        rate_limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not location_id:
            raise ValueError("location_id is required")
        self.location_id = location_id
        self.http = GhlHttp(
            token_provider=token_provider,
            base_url=base_url,
            session=session,
            timeout=timeout,
            rate_limiter=rate_limiter,
            rate_limit_key=location_id,
            retry=retry,
            sleep=sleep,
            clock=clock,
            rng=rng,
        )
        self.contacts = ContactsApi(self.http, location_id)
        self.conversations = ConversationsApi(self.http, location_id)
        self.opportunities = OpportunitiesApi(self.http, location_id)
        self.calendars = CalendarsApi(self.http, location_id)
        self.locations = LocationsApi(self.http, location_id)
        self.users = UsersApi(self.http, location_id)

    def close(self) -> None:
        self.http.session.close()

    def __enter__(self) -> GhlClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
