"""The control plane: the durable route store, the watcher that applies its changes to a running
proxy, the admin API (which also serves the dashboard, handing it the store and the contracts
report), the ``strangler`` CLI, the flip gate (canary/service flips need passing contract
verifications), ``rollout`` (rollouts the proxy replicas drive and judge themselves) and ``app``,
the composition root that starts proxy, store, watcher, admin API and rollout controller together.
It is the top layer: it steers the data plane (``strangler.proxy``) through ``RouteControl`` and
imports no Django.
"""
