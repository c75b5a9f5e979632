"""Pieces every reference service shares: SQLite storage, serving over HTTPS, settings files."""
