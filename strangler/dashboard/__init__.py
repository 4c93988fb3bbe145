"""The operator dashboard the admin API serves under /login, /logout and /dashboard: sessions and
CSRF (``auth``), what it shows (``data``, ``traffic``), the HTML (``page``, ``table``) and the
request handler (``handler``); ``assets/`` holds its stylesheet, script and icon (package data).
It reads the route store and the running proxy, never writes traffic decisions itself.
"""
