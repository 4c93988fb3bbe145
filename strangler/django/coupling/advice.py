"""What to do with each kind of edge to cut it."""

from __future__ import annotations

from .graph import Edge

ADVICE = {
    "fk": "replace the foreign key with a plain {target} id (a UUID/int column, no constraint) and read "
          "{target}'s data through its interface",
    "o2o": "replace the one-to-one with a plain {target} id column; read {target}'s data through its interface",
    "m2m": "replace the many-to-many with a table of {target} ids owned by {source}",
    "import": "route the import through the context's interface ({target_name}.interface)",
    "interface_import": "already through {target}'s interface: it becomes a call to the {target} service",
    "signal": "turn the signal into an event: {target} publishes it through the outbox, {source} subscribes",
    "model_use": "stop using {target}'s model here: move the query behind a selector in {target}'s interface",
    "raw_sql": "move the query behind a selector in {target}'s interface ({target} owns its tables)",
    "query": "move the query behind a selector in {target}'s interface",
    "transaction": "split the transaction: a saga step or an outbox event between {source} and {target}",
    "shared": "shared kernel: ship {target} as a library both sides install, or copy what is used",
}


def advise(edge: Edge, target_name: str | None = None) -> str:
    return ADVICE[edge.kind].format(source=edge.source, target=edge.target,
                                    target_name=target_name or edge.target)
