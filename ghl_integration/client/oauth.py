"""OAuth 2.0 endpoints (REFERENCE.md §b).

``POST /oauth/token`` takes no bearer and no ``Version``; its body is form-encoded and carries the client secret,
the code or the refresh token, none of which is ever logged or kept on an exception. Refresh tokens rotate on use,
so a refresh is never retried once the request may have reached GHL (only on 429/503 or when it never left):
retrying after a read timeout would spend the new refresh token GHL may already have issued. Callers serialise
refreshes per connection (row lock) and persist the new pair atomically.

``/oauth/locationToken`` and ``/oauth/installedLocations`` need an agency (Company) token, passed as a
``token_provider`` like :class:`~ghl_integration.client.GhlClient` takes; they count against the company's quota.
So does ``GET /companies/{companyId}`` (GHL's Companies API, ``companies.readonly``), the one agency-level read
we make: the agency's name, which no token response carries.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from .base import VERSION_2021_07_28, GhlHttp, RetryPolicy, TokenProvider, seg
from .pagination import iter_offset
from .ratelimit import RateLimiter
from .types import InstalledLocation, TokenResponse

USER_TYPES = ("Company", "Location")
INSTALLED_LOCATIONS_PAGE_SIZE = 100


class GhlOAuth:
    def __init__(
        self,
        *,
        base_url: str | None = None,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] | None = None,
        rate_limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._http = GhlHttp(
            base_url=base_url,
            session=session,
            timeout=timeout,
            rate_limiter=rate_limiter,
            retry=retry,
            sleep=sleep,
            clock=clock,
            rng=rng,
        )

    def _token_request(self, form: dict[str, Any]) -> TokenResponse:
        form = {k: v for k, v in form.items() if v is not None}
        return self._http.request("POST", "/oauth/token", version=None, form=form, auth=False, oauth=True)

    def exchange_code(
        self,
        *,
        client_id: str,
        client_secret: str,
        code: str,
        redirect_uri: str | None = None,
        user_type: str | None = None,
    ) -> TokenResponse:
        """``grant_type=authorization_code`` → tokens (``access_token``, ``refresh_token``, ``expires_in``,
        ``userType``, ``locationId``/``companyId``...). A used or expired code raises ``GhlInvalidGrant``."""
        _check_user_type(user_type)
        return self._token_request(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "user_type": user_type,
            }
        )

    def refresh(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        user_type: str = "Location",
        redirect_uri: str | None = None,
    ) -> TokenResponse:
        """``grant_type=refresh_token`` → a new token pair (the old refresh token is now spent).

        ``GhlInvalidGrant`` means the refresh token is spent or revoked: the connection must be re-authorised.
        """
        _check_user_type(user_type)
        return self._token_request(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "user_type": user_type,
                "redirect_uri": redirect_uri,
            }
        )

    def location_token(self, *, company_id: str, location_id: str, token_provider: TokenProvider) -> TokenResponse:
        """``POST /oauth/locationToken`` (agency token, form-encoded) → a location access token, no refresh token."""
        return self._http.request(
            "POST",
            "/oauth/locationToken",
            version=VERSION_2021_07_28,
            form={"companyId": company_id, "locationId": location_id},
            token_provider=token_provider,
            rate_limit_key=company_id,
            # Minting a location token twice only yields two valid tokens: safe to retry.
            idempotent=True,
        )

    def company(self, *, company_id: str, token_provider: TokenProvider) -> dict[str, Any]:
        """``GET /companies/{companyId}`` (agency token, ``companies.readonly``) → the company (``id``, ``name``,
        ``email``, ``phone``, ``website``, ``timezone``...)."""
        data = self._http.request(
            "GET",
            f"/companies/{seg(company_id)}",
            version=VERSION_2021_07_28,
            token_provider=token_provider,
            rate_limit_key=company_id,
        )
        return dict(data.get("company") or {})

    def installed_locations(
        self,
        *,
        company_id: str,
        app_id: str,
        token_provider: TokenProvider,
        skip: int = 0,
        limit: int = 20,
        **filters: Any,
    ) -> dict[str, Any]:
        """``GET /oauth/installedLocations`` → ``{"locations": [...], "count": n, "installToFutureLocations": b}``.

        ``filters``: ``query``, ``isInstalled``, ``versionId``, ``onTrial``, ``planId``, ``locationId``.
        """
        params = {"companyId": company_id, "appId": app_id, "skip": str(skip), "limit": str(limit)}
        for key, value in filters.items():
            params[key] = str(value).lower() if isinstance(value, bool) else value
        return self._http.request(
            "GET",
            "/oauth/installedLocations",
            version=VERSION_2021_07_28,
            params=params,
            token_provider=token_provider,
            rate_limit_key=company_id,
        )

    def iter_installed_locations(
        self,
        *,
        company_id: str,
        app_id: str,
        token_provider: TokenProvider,
        page_size: int = INSTALLED_LOCATIONS_PAGE_SIZE,
        **filters: Any,
    ) -> Iterator[InstalledLocation]:
        """Every installed location, paging by ``skip``/``limit``."""

        def fetch(cursor: dict[str, Any]) -> dict[str, Any]:
            return self.installed_locations(
                company_id=company_id,
                app_id=app_id,
                token_provider=token_provider,
                skip=cursor["skip"],
                limit=cursor["limit"],
                **filters,
            )

        return iter_offset(fetch, items_key="locations", page_size=page_size)


def _check_user_type(user_type: str | None) -> None:
    if user_type is not None and user_type not in USER_TYPES:
        raise ValueError(f"user_type must be one of {USER_TYPES}")


def exchange_code(**kwargs: Any) -> TokenResponse:
    """Module-level shortcut: :meth:`GhlOAuth.exchange_code` with default settings."""
    return GhlOAuth().exchange_code(**kwargs)


def refresh(**kwargs: Any) -> TokenResponse:
    """Module-level shortcut: :meth:`GhlOAuth.refresh` with default settings."""
    return GhlOAuth().refresh(**kwargs)


def location_token(**kwargs: Any) -> TokenResponse:
    """Module-level shortcut: :meth:`GhlOAuth.location_token` with default settings."""
    return GhlOAuth().location_token(**kwargs)


def installed_locations(**kwargs: Any) -> dict[str, Any]:
    """Module-level shortcut: :meth:`GhlOAuth.installed_locations` with default settings."""
    return GhlOAuth().installed_locations(**kwargs)
