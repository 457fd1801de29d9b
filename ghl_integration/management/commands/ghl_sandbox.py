"""`manage.py ghl_sandbox`: launch the local GHL sandbox (a separate process with its own SQLite state).

This command only launches; the sandbox itself never touches Django models or the product database.
"""
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the local GoHighLevel sandbox (see ghl_sandbox/README.md)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on start)")
        parser.add_argument("--seed", choices=["demo"], default=None)
        parser.add_argument("--webhook-url", action="append", dest="webhook_urls", default=[])
        parser.add_argument("--state", default=None, help="SQLite state file (default var/ghl_sandbox.sqlite3)")
        parser.add_argument("--token-ttl", type=int, default=None, help="access-token lifetime in seconds")
        parser.add_argument("--keys-dir", default=None, help="folder with the signing key pair PEMs")
        parser.add_argument("--print-public-keys", action="store_true")

    def handle(self, *args, **opts):
        from ghl_sandbox.server import DEFAULT_STATE_PATH, serve
        from ghl_sandbox.webhooks import Signer

        if opts["print_public_keys"]:
            pems = Signer(opts["keys_dir"]).public_pems()
            self.stdout.write("# Ed25519 (x-ghl-signature)\n" + pems["ed25519"])
            self.stdout.write("# RSA (x-wh-signature)\n" + pems["rsa"])
            return
        if opts["host"] not in ("127.0.0.1", "localhost", "::1"):
            self.stderr.write("warning: the sandbox is meant for loopback only")
        serve(host=opts["host"], port=opts["port"], state=opts["state"] or DEFAULT_STATE_PATH, seed=opts["seed"],
              webhook_urls=opts["webhook_urls"], token_ttl=opts["token_ttl"], keys_dir=opts["keys_dir"],
              out=self.stdout)
