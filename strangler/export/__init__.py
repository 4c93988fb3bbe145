"""Exporters of the route plan for other proxies: a Gateway API HTTPRoute (``gateway``) and an
nginx configuration (``nginx``). They read a ``RouteTable`` and route states from the proxy's
vocabulary and write text; `strangler export` runs them.
"""
