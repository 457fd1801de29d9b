"""GHL opportunities and pipelines: the mirror (pipelines, users, lost reasons), inbound apply (pull, webhooks,
reconciliation, deletion sweep) and the outbound pusher. See `README.md` in this package."""
