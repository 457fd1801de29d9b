"""Picks the binding (provider + account) that carries an organization's outbound message on a channel."""
from .errors import refusal
from .models import ChannelBinding
from .providers.base import Binding, ChannelProvider
from .providers.registry import registry


def channel_route(*, organization_id: int, channel: str) -> tuple[ChannelProvider, Binding]:
    """Stored active bindings first (by priority), then the registered providers' defaults (by key).
    Raises `SendRefused("no_provider")` when nothing serves the channel."""
    rows = ChannelBinding.objects.for_org(organization_id).filter(channel=channel, is_active=True)
    for row in rows:
        provider = registry.get(row.provider_key)
        if provider is not None and provider.supports(channel):
            return provider, Binding(organization_id=organization_id, channel=channel,
                                     provider_key=row.provider_key, account_id=row.account_id)
    for provider in registry.all():
        if provider.supports(channel):
            binding = provider.default_binding(organization_id=organization_id, channel=channel)
            if binding is not None:
                return provider, binding
    raise refusal("no_provider", channel, hint="Connect GoHighLevel on the settings page.")

