"""Consumer-driven contracts (Pact) that guard every cut: consumers, provider verification and the
verification record the strangler's flips are gated on."""
