#!/usr/bin/env bash
# Install the external load generator (wrk) and the nginx reference for `make bench`, when missing.
set -euo pipefail
exec bash "$(dirname "$0")/../deploy/local/debian_tools.sh" wrk:wrk nginx:nginx
