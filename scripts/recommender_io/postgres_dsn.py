"""PostgreSQL connection strings in messages: never the password (loader, latency tool)."""

from __future__ import annotations

import re

import psycopg


def password_of(dsn: str) -> str | None:
    try:
        return psycopg.conninfo.conninfo_to_dict(dsn).get("password")  # type: ignore[return-value]
    except psycopg.Error:
        match = re.search(r"://[^:/@]*:([^@]*)@", dsn) or re.search(r"password\s*=\s*(\S+)", dsn)
        return match.group(1) if match else None


def redact(text: str, dsn: str) -> str:
    """`text` without the DSN's password (errors can quote the connection string)."""
    password = password_of(dsn)
    if password:
        text = text.replace(password, "***")
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def describe_dsn(dsn: str) -> str:
    """user@host:port/dbname, never the password."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "(unparseable DSN)"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or 5432
    return f"{parts.get('user') or '?'}@{host}:{port}/{parts.get('dbname') or '?'}"
