"""Acquiring (收单): merchants, terminals, taps, clearing."""
