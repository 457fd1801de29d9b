"""The workspace navigation (templates/_workspace_nav.html): ``{% nav_link "url_name" "Label" %}`` is one area of
the organization ``nav_org``."""
from django import template
from django.urls import reverse
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_link(context, url_name: str, label: str) -> str:
    """An ``<li>`` linking to the organization's page ``url_name`` (a URL taking ``org_id``), marked as the
    current area when the page being shown lies under it. Empty without ``nav_org``."""
    organization = context.get("nav_org")
    if organization is None:
        return ""
    url = reverse(url_name, kwargs={"org_id": organization.pk})
    request = context.get("request")
    current = request is not None and request.path.startswith(url)
    if current:
        return format_html('<li><a href="{}" aria-current="page">{}</a></li>', url, label)
    return format_html('<li><a href="{}">{}</a></li>', url, label)
