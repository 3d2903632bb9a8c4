"""Labour-capacity appraisal (劳动能力鉴定): the shared expert pool, panels, signed conclusions."""
