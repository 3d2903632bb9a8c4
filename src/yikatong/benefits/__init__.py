"""Benefit disbursement (一卡通发): programmes, monthly batches, bank files, reconciliation."""
