"""Every SQL statement of the app, as plain functions ``(conn, ...) -> dict``; no Flask here."""
