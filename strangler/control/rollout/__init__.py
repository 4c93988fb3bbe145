"""Rollouts that drive themselves: a plan of steps (shadow, canary weights, service), each watched
for a while and judged on the traffic every proxy replica saw, advanced, held or rolled back by a
controller that runs inside the proxy replicas, one leader at a time.

``plan`` is the vocabulary (steps, analysis thresholds, parsing operator input); ``evidence``
turns the replicas' published counters into what a step saw; ``judge`` is the pure decision;
``records`` keeps rollouts, their decisions, the leader's lease and each replica's counters in the
route store's database (tables in ``schema``); ``actions`` are the operator's verbs (start, pause, resume, abort) shared by the
CLI, the admin API and the controller; ``controller`` is the loop in each replica.
"""
