"""Venues, culture and tourism (一卡通游): tickets, annual passes and ID-verified entry."""
