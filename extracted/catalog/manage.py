#!/usr/bin/env python
"""Runs the catalog service; settings come from DJANGO_SETTINGS_MODULE (default catalog_service.settings)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catalog_service.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
