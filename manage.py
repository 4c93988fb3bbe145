#!/usr/bin/env python
"""Runs the monolith; settings come from DJANGO_SETTINGS_MODULE (default monolith.config.settings)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
