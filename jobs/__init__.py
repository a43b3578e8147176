"""Durable work: the job table, and the leased claim-run-record loop that the outbox shares."""
