"""Transit (一卡通乘): fares, rides, transport-purse top-ups."""
