"""The Django side of the Strangler Kit: what a monolith and each service cut out of it install
(outbox and inbox, idempotency keys, internal credentials, probes, the route follower, the
remote-client base) and the coupling report that says which context to cut next."""
