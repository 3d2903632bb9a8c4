"""Shared kernel: money, identifiers, time, working days, errors, policy files, database."""
