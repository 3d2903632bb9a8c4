"""Resident registry (参保人): people, households and relatives."""
