"""Persistence: the declarative base, the tenant scope a session runs in, the engine, migrations."""

from db.base import Base, TenantOwned
from db.database import Database
from db.scope import TenantScope

__all__ = ["Base", "Database", "TenantOwned", "TenantScope"]
