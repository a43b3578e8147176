#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data directory.
#
# Two roles, so that row-level security binds the server:
#   channelbill_owner  owns the database and its schema; the migrations run as it
#   channelbill_app    the server's role: owns nothing, no superuser, no BYPASSRLS
# The migrations grant channelbill_app its table rights.
set -euo pipefail

: "${CHANNELBILL_OWNER_PASSWORD:?}"
: "${CHANNELBILL_APP_PASSWORD:?}"

# psql's :'name' quotes the passwords as SQL literals.
psql -v ON_ERROR_STOP=1 --no-psqlrc \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v owner_password="$CHANNELBILL_OWNER_PASSWORD" \
    -v app_password="$CHANNELBILL_APP_PASSWORD" <<'SQL'
CREATE ROLE channelbill_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE
    PASSWORD :'owner_password';
CREATE ROLE channelbill_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE
    PASSWORD :'app_password';

CREATE DATABASE channelbill OWNER channelbill_owner;
REVOKE ALL ON DATABASE channelbill FROM PUBLIC;
GRANT CONNECT, CREATE, TEMPORARY ON DATABASE channelbill TO channelbill_owner;
GRANT CONNECT ON DATABASE channelbill TO channelbill_app;

\connect channelbill
-- Before PostgreSQL 15 every role could create objects in public; only the owner may here.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO channelbill_owner;
GRANT USAGE, CREATE ON SCHEMA public TO channelbill_owner;
GRANT USAGE ON SCHEMA public TO channelbill_app;
SQL
