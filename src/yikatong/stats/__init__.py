"""Statistics the city reports (统计): read-only figures over the other domains."""
