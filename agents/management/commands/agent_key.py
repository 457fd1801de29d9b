"""`agent_key create --org <slug> --agent <name>` prints a new key as its last line; `agent_key revoke <prefix>`."""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenancy.models import Organization

from ...models import ApiKey
from ...selectors import agent_get_by_name
from ...services import KEY_PREFIX, agent_create, api_key_create, api_key_revoke


class Command(BaseCommand):
    help = "Create or revoke agent API keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a key (and the agent if it does not exist yet).")
        create.add_argument("--org", required=True, help="Organization slug.")
        create.add_argument("--agent", required=True, help="Agent name.")
        create.add_argument("--label", default="")
        revoke = sub.add_parser("revoke", help="Revoke a key by its prefix (al_xxxxxxxx or xxxxxxxx).")
        revoke.add_argument("prefix")

    def handle(self, *args, action: str, **opts):
        if action == "create":
            org = Organization.objects.filter(slug=opts["org"]).first()
            if org is None:
                raise CommandError(f"No organization with slug {opts['org']!r}.")
            agent = agent_get_by_name(organization=org, name=opts["agent"])
            if agent is None:
                try:
                    agent = agent_create(organization=org, name=opts["agent"])
                except ValidationError as exc:
                    raise CommandError("; ".join(exc.messages))
                self.stdout.write(f"Created agent {agent.name!r} in {org.slug}.")
            key, raw = api_key_create(agent=agent, label=opts["label"])
            self.stdout.write(f"Key al_{key.prefix}_… for agent {agent.name!r} (shown once, stored hashed):")
            self.stdout.write(raw)
            return
        prefix = opts["prefix"].removeprefix(KEY_PREFIX).split("_")[0]
        key = ApiKey.objects.filter(prefix=prefix).first()
        if key is None:
            raise CommandError(f"No key with prefix {prefix!r}.")
        api_key_revoke(api_key=key)
        self.stdout.write(f"Revoked al_{key.prefix}_… of agent {key.agent.name!r}.")
