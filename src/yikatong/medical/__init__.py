"""Resident medical insurance (城乡居民医保): policy, contributions, waiting periods, settlement."""
