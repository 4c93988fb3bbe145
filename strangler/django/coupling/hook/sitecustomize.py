"""Loaded at start-up by the child of ``strangler_coupling --run`` (its directory leads PYTHONPATH):
records every SQL query the child's Django runs, whatever its settings. Not for import."""

import os

if os.environ.get("STRANGLER_COUPLING_TRACE"):
    from strangler.django.coupling.recorder import install

    install(os.environ["STRANGLER_COUPLING_TRACE"])
