"""The data plane: accepts client connections, routes each request and forwards it upstream.

It holds the shared vocabulary (``types``), reads the route table file (``config``), decides a
side per request (``routing``), speaks HTTP/1.1 to clients (``downstream``, ``request_head``,
``http1``) and to upstreams (``upstream``, ``upstreams``), runs one proxied request (``exchange``
and its ``relay``, sharing one ``forwarding`` per server, with the pure retry/fallback decision in
``retry``), mirrors and compares traffic (``shadow``, ``fetch``, ``diff``), joins both sides of an upgrade in a
tunnel (``tunnel``, all of them held by ``tunnels``, the pure decisions in ``upgrade``), and keeps breakers,
metrics, the access log, internal credentials and tracing hooks. ``server`` puts them together.
It is the bottom layer: it imports nothing of the control plane, the dashboard or the exporters,
and no Django.
"""
