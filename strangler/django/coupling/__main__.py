"""``python -m strangler.django.coupling [options]``: the command on DJANGO_SETTINGS_MODULE's project
without adding the app to INSTALLED_APPS (``--settings`` also works)."""

import os
import sys


def main(argv: list[str]) -> None:
    if "--settings" in argv:
        i = argv.index("--settings")
        os.environ["DJANGO_SETTINGS_MODULE"] = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    sys.path.insert(0, os.getcwd())
    import django
    from django.core.management import call_command

    django.setup()
    from strangler.django.coupling.management.commands.strangler_coupling import Command

    command = Command()
    parser = command.create_parser("manage.py", "strangler_coupling")
    options = vars(parser.parse_args(argv))
    call_command(command, **{k: v for k, v in options.items() if v is not None and k != "args"})


if __name__ == "__main__":
    main(sys.argv[1:])
