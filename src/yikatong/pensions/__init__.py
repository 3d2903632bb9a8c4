"""Pension transfer between cities (养老保险关系转移接续): cases, funds, packets, the 台账."""
