"""The GraphQL face of channelbill: types, queries and mutations that call the domain services."""

from schema.build import build_schema

__all__ = ["build_schema"]
