"""GHL webhook inbox: verify, store, acknowledge; process later in a Celery task. See README.md."""
