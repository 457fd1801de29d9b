from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .selectors import organization_list_for_user


@login_required
def home(request):
    """The org owner's landing page: the organizations this user belongs to."""
    organizations = organization_list_for_user(user=request.user)
    return render(request, "tenancy/home.html", {"organizations": organizations})
