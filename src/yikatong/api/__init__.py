"""HTTP edge: app factory, authentication, problem+json errors, router registration."""
