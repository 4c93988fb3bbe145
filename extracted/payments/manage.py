#!/usr/bin/env python
"""Runs the payments service; settings come from DJANGO_SETTINGS_MODULE (default payments_service.settings)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payments_service.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
