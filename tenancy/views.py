from django.shortcuts import render

from .selectors import organization_list_for_user


def home(request):
    """The landing page: what AgentLevel is and where to start; signed in, the user's organizations."""
    if not request.user.is_authenticated:
        return render(request, "tenancy/landing.html")
    organizations = organization_list_for_user(user=request.user)
    return render(request, "tenancy/home.html", {"organizations": organizations})
