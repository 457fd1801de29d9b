"""A test-only app: a toy second kind of record (tickets) that proves the sync engine's seams (#13)."""
