"""`org_manager_required`: owners and admins of the organisation in the URL, nobody else."""
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse

from tenancy.models import Membership
from tenancy.permissions import org_manager_required
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory


@org_manager_required
def view(request, *args, **kwargs):
    return HttpResponse(f"{request.organization.pk} {args} {kwargs}")


def _get(rf, user, org_id):
    request = rf.get(f"/orgs/{org_id}/thing/")
    request.user = user
    return view(request, org_id=org_id)


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Membership.Role.OWNER, Membership.Role.ADMIN])
def test_an_owner_or_admin_reaches_the_view_with_the_organization(rf, role):
    membership = MembershipFactory(role=role)
    response = _get(rf, membership.user, membership.organization.pk)
    assert response.status_code == 200
    assert response.content.decode() == f"{membership.organization.pk} () {{}}"  # org_id is consumed


@pytest.mark.django_db
def test_a_member_is_forbidden_with_a_reason(rf):
    membership = MembershipFactory(role=Membership.Role.MEMBER)
    with pytest.raises(PermissionDenied, match="owner or admin"):  # the 403 page shows the reason
        _get(rf, membership.user, membership.organization.pk)


@pytest.mark.django_db
def test_an_outsider_cannot_tell_the_organization_exists(rf):
    org = OrganizationFactory()
    with pytest.raises(Http404):
        _get(rf, UserFactory(), org.pk)
    with pytest.raises(Http404):
        _get(rf, UserFactory(), org.pk + 1000)


@pytest.mark.django_db
def test_an_anonymous_user_is_sent_to_log_in(rf):
    org = OrganizationFactory()
    response = _get(rf, AnonymousUser(), org.pk)
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.django_db
def test_the_manager_membership_is_none_for_members_and_outsiders():
    from tenancy.permissions import org_manager_membership

    admin = MembershipFactory(role=Membership.Role.ADMIN)
    member = MembershipFactory(organization=admin.organization)
    org_id = admin.organization.pk
    assert org_manager_membership(user=admin.user, organization_id=org_id) == admin
    assert org_manager_membership(user=member.user, organization_id=org_id) is None
    assert org_manager_membership(user=UserFactory(), organization_id=org_id) is None
    assert org_manager_membership(user=AnonymousUser(), organization_id=org_id) is None
