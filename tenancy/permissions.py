"""Who may do what in an organisation, as view decorators (the organisation comes from the URL)."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Membership
from .selectors import membership_get

NOT_A_MANAGER_MESSAGE = "Only an owner or admin of this organization can open this page."


def org_manager_membership(*, user, organization_id: int) -> Membership | None:
    """The user's membership of the organisation if it may manage it (owner or admin), else None."""
    membership = membership_get(user=user, organization_id=organization_id)
    return membership if membership is not None and membership.can_manage else None


def org_manager_required(view):
    """Owner/admin of the organization in the URL (``org_id``) only; members get 403, outsiders 404 (an
    outsider learns nothing about which organisations exist), anonymous users the login page.

    The wrapped view is called without ``org_id``, with ``request.organization`` set."""

    @login_required
    @wraps(view)
    def wrapped(request, org_id: int, *args, **kwargs):
        membership = membership_get(user=request.user, organization_id=org_id)
        if membership is None:
            raise Http404("No such organization")
        if not membership.can_manage:
            raise PermissionDenied(NOT_A_MANAGER_MESSAGE)
        request.organization = membership.organization
        request._workspace_membership = membership  # the layout's context processor reads it, not the DB again
        return view(request, *args, **kwargs)

    return wrapped


def org_member_required(view):
    """Any member of the organization in the URL (``org_id``); outsiders get 404, anonymous users the login
    page. The wrapped view is called without ``org_id``, with ``request.organization`` and
    ``request.membership`` set (``request.membership.can_manage`` says whether it may write)."""

    @login_required
    @wraps(view)
    def wrapped(request, org_id: int, *args, **kwargs):
        membership = membership_get(user=request.user, organization_id=org_id)
        if membership is None:
            raise Http404("No such organization")
        request.organization, request.membership = membership.organization, membership
        request._workspace_membership = membership  # the layout's context processor reads it, not the DB again
        return view(request, *args, **kwargs)

    return wrapped
