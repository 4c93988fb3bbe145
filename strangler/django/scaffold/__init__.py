"""Django app ``strangler.django.scaffold``: ``manage.py strangler_extract CONTEXT --to DIR`` writes a
service for one bounded context of the monolith (its own Django project on the kit, Dockerfile,
tests, extraction spec, deploy files and Pact skeletons), read from the monolith's app registry,
URL configuration and migrations."""
