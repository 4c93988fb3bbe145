"""The monolith's settings for the schemathesis run, with one change: a fast password hasher.

schemathesis registers hundreds of users; at PBKDF2's production cost (about half a second each
on a small machine) that alone would take minutes. Nothing the run checks depends on the cost.
"""

from monolith.config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
