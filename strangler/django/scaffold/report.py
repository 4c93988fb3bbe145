"""What ``strangler_extract`` prints when it has written a service: what to add outside the service
folder (the command never edits those files itself), then each file it wrote and its line count."""

from __future__ import annotations

from strangler.django.scaffold.services import ScaffoldResult

ROUTES = "deploy/routes.toml"
PARTICIPANTS = "contracts/participants.py"


def summary(result: ScaffoldResult) -> str:
    plan = result.plan
    width = max(len(str(f.path)) for f in result.files)
    lines = [f"\nWrote {len(result.files)} files ({result.lines} lines) to {plan.out}:"]
    lines += [f"  {str(f.path):<{width}}  {f.lines:>5}" for f in result.files]
    lines.append(f"  {'total':<{width}}  {result.lines:>5}")
    if not plan.context.has_migrations:
        lines.append(f"\nNote: {plan.context.label} has no migrations: run makemigrations in the monolith first, "
                     "or the service's migrate creates none of its tables.")
    return "\n".join(lines)


def patch(result: ScaffoldResult) -> str:
    """The additions to files outside the service folder, to make by hand."""
    plan = result.plan
    by_path = {str(f.path): f.text for f in result.files}
    label, module = plan.context.label, plan.context.module
    return "\n".join([
        "Add to your route table (e.g. deploy/compose/routes.toml and deploy/local/routes.toml):",
        _indent(by_path[ROUTES]),
        "Add to your compose file: the services of " + str(plan.out / "deploy" / "compose.yml"),
        "Add to your Kubernetes manifests: " + str(plan.out / "deploy" / "k8s") + "/*.yaml",
        "",
        f"Register the spec in the monolith: copy {plan.package}/extraction.py to {module.replace('.', '/')}/extraction.py and add",
        f'    STRANGLER_EXTRACTIONS["{label}"] = "{module}.extraction.SPEC"',
        "",
        "Add to your Pact participants (contracts/participants.py):",
        _indent(by_path[PARTICIPANTS].split('"""', 2)[2].strip() + "\n"),
    ])


def _indent(text: str) -> str:
    return "\n".join(("    " + line) if line else "" for line in text.splitlines())
