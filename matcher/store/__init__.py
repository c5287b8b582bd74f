"""Storage of the matcher: tables, migrations, repositories (functions taking a Connection)
and the content-addressed blob folder."""

from matcher.store.blobs import BlobStore
from matcher.store.companies import Company, add_company, get_company, list_companies
from matcher.store.database import create_database_engine, upgrade_database, upgrade_engine
from matcher.store.users import User, add_user, list_users, revoke_user, user_for_token

__all__ = [
    "BlobStore",
    "Company",
    "User",
    "add_company",
    "add_user",
    "create_database_engine",
    "get_company",
    "list_companies",
    "list_users",
    "revoke_user",
    "upgrade_database",
    "upgrade_engine",
    "user_for_token",
]
