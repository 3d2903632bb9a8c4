"""Elderly canteens (老年助餐): the card pays at the till, the meal subsidy is deducted."""
