"""Django app ``strangler.django.outbox``: the transactional outbox, its relay and the event bus
whose consumers dedupe through an inbox."""
