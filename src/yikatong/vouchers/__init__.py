"""Consumer vouchers (消费券): daily releases with quotas, claims, redemption at merchants."""
