"""What every page's layout needs to know: the organization the page belongs to, and the viewer's role in it."""
from django.http import HttpRequest

from .selectors import membership_get


def workspace(request: HttpRequest) -> dict:
    """``workspace_org`` (the organization in the URL, when the viewer is a member; else None) and
    ``workspace_can_manage``. The navigation shows an organization's areas only when it is set, so a
    page outside an organization (login, home, errors) shows none and an outsider learns nothing."""
    membership = _membership_of_url(request)
    if membership is None:
        return {"workspace_org": None, "workspace_can_manage": False}
    return {"workspace_org": membership.organization, "workspace_can_manage": membership.can_manage}


def _membership_of_url(request: HttpRequest):
    cached = getattr(request, "_workspace_membership", False)
    if cached is not False:
        return cached
    match = getattr(request, "resolver_match", None)
    org_id = match.kwargs.get("org_id") if match is not None else None
    user = getattr(request, "user", None)
    membership = None
    if org_id is not None and user is not None:
        membership = membership_get(user=user, organization_id=org_id)
    request._workspace_membership = membership
    return membership
