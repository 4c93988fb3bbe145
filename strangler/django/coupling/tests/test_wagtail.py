"""A real multi-app project nobody here wrote: Wagtail, installed from PyPI (the `coupling-test`
extra). Its apps live in site-packages, so they are named with --apps; the expected foreign keys are
read from Wagtail's own source, not written down here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .support import run_command, write

wagtail = pytest.importorskip("wagtail")
SOURCE = Path(wagtail.__file__).resolve().parent

SETTINGS = """
    SECRET_KEY = "coupling-test"
    INSTALLED_APPS = [
        "wagtail.contrib.forms", "wagtail.contrib.redirects", "wagtail.embeds", "wagtail.sites",
        "wagtail.users", "wagtail.snippets", "wagtail.documents", "wagtail.images", "wagtail.search",
        "wagtail.admin", "wagtail", "modelcluster", "taggit",
        "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
        "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
        "strangler.django.coupling",
    ]
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
    WAGTAIL_SITE_NAME = "coupling"
    USE_TZ = True
    STATIC_URL = "/static/"
    MEDIA_URL = "/media/"
    TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                  "OPTIONS": {"context_processors": ["django.contrib.auth.context_processors.auth",
                                                     "django.contrib.messages.context_processors.messages",
                                                     "django.template.context_processors.request"]}}]
    MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
                  "django.contrib.auth.middleware.AuthenticationMiddleware",
                  "django.contrib.messages.middleware.MessageMiddleware"]
"""
APPS = "wagtailcore,wagtailimages,wagtaildocs,wagtailredirects,wagtailforms,wagtailembeds,wagtailsearch,wagtailadmin"


def line_of(path: Path, pattern: str, after: str | None = None) -> int:
    """1-based line of the first line matching ``pattern`` (after the first matching ``after``)."""
    lines = path.read_text().splitlines()
    start = next(i for i, text in enumerate(lines) if re.search(after, text)) if after else 0
    return next(i for i in range(start, len(lines)) if re.search(pattern, lines[i])) + 1


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("wagtail")
    write(tmp, {"wagtail_settings.py": SETTINGS})
    report, _, _ = run_command(tmp, "wagtail_settings", "--apps", APPS, "--json", "-",
                               "--partition", "wagtailredirects,wagtailforms")
    return report


def _fks(report: dict) -> set[tuple]:
    return {(e["source"], e["target"], e["file"], e["line"], e["detail"]) for e in report["edges"]
            if e["kind"] in ("fk", "o2o", "m2m")}


def test_redirects_point_at_core_pages_and_sites(report):
    models = SOURCE / "contrib/redirects/models.py"
    fks = _fks(report)
    assert ("wagtailredirects", "wagtailcore", str(models), line_of(models, r"^\s+redirect_page = models\.ForeignKey"),
            "Redirect.redirect_page -> wagtailcore.Page") in fks
    assert ("wagtailredirects", "wagtailcore", str(models), line_of(models, r"^\s+site = models\.ForeignKey"),
            "Redirect.site -> wagtailcore.Site") in fks


def test_form_submissions_and_images_reach_into_core(report):
    forms = SOURCE / "contrib/forms/models.py"
    assert ("wagtailforms", "wagtailcore", str(forms), line_of(forms, r"^\s+page = models\.ForeignKey\(Page"),
            "FormSubmission.page -> wagtailcore.Page") in _fks(report)
    # Image's collection is declared once on CollectionMember, an abstract model of wagtail core.
    media = SOURCE / "models/media.py"
    line = line_of(media, r"^\s+collection = models\.ForeignKey", after=r"^class CollectionMember")
    assert ("wagtailimages", "wagtailcore", str(media), line, "Image.collection -> wagtailcore.Collection") \
        in _fks(report)
    assert ("wagtaildocs", "wagtailcore", str(media), line, "Document.collection -> wagtailcore.Collection") \
        in _fks(report)


def test_core_is_the_most_expensive_to_cut_and_the_partition_is_measured(report):
    ranked = [c["app"] for c in report["candidates"]]
    assert ranked[-1] in ("wagtailcore", "wagtailadmin")
    cost = {c["app"]: c["cost"] for c in report["candidates"]}
    assert cost["wagtailcore"] > cost["wagtailredirects"]
    part = report["partition"]
    assert part["services"] == [["wagtailredirects"], ["wagtailforms"]] and part["edges_to_cut"] > 0
    assert 'source_modules = [\n    "wagtail.contrib.redirects",\n]' in report["contracts"]
