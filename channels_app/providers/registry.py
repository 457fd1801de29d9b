"""The channel provider registry: providers are registered explicitly (from an `AppConfig.ready()`), by key;
registering a key twice raises, so two modules can never silently fight over one name."""
from .base import ChannelProvider


class ProviderRegistry:
    def __init__(self):
        self._providers: dict[str, ChannelProvider] = {}

    def register(self, provider: ChannelProvider) -> ChannelProvider:
        if not provider.key:
            raise ValueError(f"{type(provider).__name__} has no key")
        if provider.key in self._providers:
            raise ValueError(f"A channel provider is already registered under {provider.key!r}")
        self._providers[provider.key] = provider
        return provider

    def unregister(self, key: str) -> None:
        self._providers.pop(key, None)

    def get(self, key: str) -> ChannelProvider | None:
        return self._providers.get(key)

    def all(self) -> list[ChannelProvider]:
        return [self._providers[k] for k in sorted(self._providers)]


registry = ProviderRegistry()
