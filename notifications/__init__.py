"""Outgoing email: the transactional outbox, its dispatcher and transports, and the messages."""
