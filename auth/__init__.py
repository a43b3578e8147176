"""Identities and tokens: passwords, JWTs, refresh tokens, the Principal, permission rules."""
