"""Resellers (the tenants), their customers and users, platform admins, and tenant scoping."""
