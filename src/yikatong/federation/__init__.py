"""Federation of city nodes: signed envelopes, outbox/inbox, cross-city recognition and clearing."""
