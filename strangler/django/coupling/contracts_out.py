"""The import-linter contracts that would hold a proposed boundary, as TOML ready to paste."""

from __future__ import annotations

from .project import Project


def _list(items: list[str], indent: str = "    ") -> str:
    return "[\n" + "".join(f'{indent}"{i}",\n' for i in items) + "]"


def contracts_toml(project: Project, services: list[list[str]]) -> str:
    """Per service: it imports the other contexts only through their interface modules, and they
    import it only through its own. Shared-kernel apps stay importable by everyone."""
    names = {label: node.name for label, node in project.apps.items()}
    roots = sorted({n.split(".")[0] for n in names.values()})
    lines = ["[tool.importlinter]", f"root_packages = {_list(roots)}" if len(roots) > 1
             else f'root_package = "{roots[0]}"' if roots else "", ""]
    for group in services:
        inside = [names[a] for a in group]
        others = [names[a] for a in project.apps if a not in group and a not in project.shared]
        if not others:
            continue
        slug = "-".join(group)
        out_ignores = [f"{m}.** -> {o}.{i}" for m in inside for o in others for i in project.interface_modules]
        in_ignores = [f"{o}.** -> {m}.{i}" for o in others for m in inside for i in project.interface_modules]
        lines += [
            "[[tool.importlinter.contracts]]",
            f'id = "{slug}-uses-interfaces"',
            f'name = "{", ".join(group)} imports other contexts only through their interface"',
            'type = "forbidden"',
            f"source_modules = {_list(inside)}",
            f"forbidden_modules = {_list(others)}",
            f"ignore_imports = {_list(out_ignores)}",
            'unmatched_ignore_imports_alerting = "none"',
            "",
            "[[tool.importlinter.contracts]]",
            f'id = "{slug}-behind-interface"',
            f'name = "Other contexts reach {", ".join(group)} only through its interface"',
            'type = "forbidden"',
            f"source_modules = {_list(others)}",
            f"forbidden_modules = {_list(inside)}",
            f"ignore_imports = {_list(in_ignores)}",
            'unmatched_ignore_imports_alerting = "none"',
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
