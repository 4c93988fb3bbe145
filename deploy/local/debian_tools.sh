#!/usr/bin/env bash
# Install Debian packages for the commands the tests or benchmarks drive, when missing.
# Arguments: COMMAND:PACKAGE pairs (the command looked for on PATH and in /usr/sbin, the package
# that provides it). Used by `make test` (tools) and `make bench` (bench/setup.sh).
set -euo pipefail
need=()
for pair in "$@"; do
  command="${pair%%:*}"; package="${pair#*:}"
  command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ] || need+=("$package")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "[tools] installing ${need[*]} from Debian's packages"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
for pair in "$@"; do
  command="${pair%%:*}"
  command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ] || { echo "[tools] $command still missing" >&2; exit 1; }
done
