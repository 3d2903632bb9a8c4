"""Append-only audit log of staff reads of personal data and of sensitive actions."""
