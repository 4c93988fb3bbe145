"""What `make run` and `make run-monolith` print once every process answers: where things are and
the commands to try next."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Ports(Protocol):
    proxy: int
    monolith: int
    payments: int
    catalog: int
    admin: int
    broker: int


WALKTHROUGH = """
The stack is up:
  strangler proxy   {proxy}     (clients come in here)
  monolith          {monolith}  (Django, behind the proxy)
  payments service  {payments}  (extracted; needs the internal credential the proxy adds)
  catalog service   {catalog}  (extracted; products reach it by sync and by the backfill the
                    catalog cutover runs: {bin}/python deploy/cutover.py --context catalog)
  strangler admin   {admin}     token: {token}
  dashboard         {admin}/dashboard   (log in with the admin token above)
  OpenAPI schema    {proxy}/api/schema/

Try a full checkout through the proxy (seeded user demo@example.com / demo-pass-123):
  TOKEN=$(curl -s -X POST {proxy}/api/v1/users/token/ -H 'Content-Type: application/json' \\
      -d '{{"email": "demo@example.com", "password": "demo-pass-123"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  PRODUCT=$(curl -s {proxy}/api/v1/products/ | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  ORDER=$(curl -s -X POST {proxy}/api/v1/orders/ -H "Authorization: Token $TOKEN" -H 'Content-Type: application/json' \\
      -H "Idempotency-Key: $(python3 -c 'import uuid; print(uuid.uuid4())')" -d "{{\\"lines\\": [{{\\"product_id\\": \\"$PRODUCT\\", \\"quantity\\": 1}}]}}" \\
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -s -X POST {proxy}/api/v1/orders/$ORDER/checkout/ -H "Authorization: Token $TOKEN" \\
      -H 'Content-Type: application/json' -H "Idempotency-Key: checkout-$ORDER" -d '{{"card_token": "tok_visa"}}'
  # a declined card: create another order the same way, then use "tok_chargeDeclined" (402, stock restored)

Route state:   STRANGLER_ADMIN_TOKEN=$(cat var/strangler-admin-token) {bin}/strangler --config deploy/local/routes.toml routes
Cut over:      {bin}/python deploy/cutover.py [--context catalog]   (contracts, backfill, shadow, canary 10% and 50%, service; see README)
Roll back:     {bin}/strangler --config deploy/local/routes.toml set payments --mode monolith --reason "..."
Mail sent:     ls var/mail/
{supervision}"""

MONOLITH_WALKTHROUGH = """
The monolith is up, alone, as it runs before any cut:
  monolith          {monolith}  (Django; seeded user demo@example.com / demo-pass-123)
  OpenAPI schema    {monolith}/api/schema/
  worker, relay     events through the outbox and the embedded broker (redis://127.0.0.1:{broker}/0)
What to cut first: {bin}/python manage.py strangler_coupling   (each context's edges to the rest, ranked)
Then `make run` puts the strangler proxy in front.
Mail sent:     ls var/mail/
""" + "{supervision}"

SUPERVISION = """Processes:     {bin}/supervisorctl -c var/supervisord.conf status   (a process that dies is restarted)
Logs:          var/log/<process>.log
Ctrl-C stops everything.
"""


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def stack_banner(*, ports: Ports, token: str, bin_dir: Path) -> str:
    return WALKTHROUGH.format(proxy=_url(ports.proxy), monolith=_url(ports.monolith), payments=_url(ports.payments),
                              catalog=_url(ports.catalog), admin=_url(ports.admin), token=token, bin=bin_dir,
                              supervision=SUPERVISION.format(bin=bin_dir))


def monolith_banner(*, ports: Ports, bin_dir: Path) -> str:
    return MONOLITH_WALKTHROUGH.format(monolith=_url(ports.monolith), broker=ports.broker, bin=bin_dir,
                                       supervision=SUPERVISION.format(bin=bin_dir))
