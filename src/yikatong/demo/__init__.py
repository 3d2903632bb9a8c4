"""Deterministic demo data for a three-city league (Qingdao, Jinan, Zhengzhou)."""
