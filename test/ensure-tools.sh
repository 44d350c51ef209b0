#!/usr/bin/env bash
# Runs before `npm test`: the tests drive real Redis tools and clients. Checks that they are here;
# when they are not, installs them with apt-get if this is a Debian-like system and we are root
# (as on CI), else says what to install and fails.
set -euo pipefail

missing=()
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v redis-benchmark >/dev/null || missing+=(redis-tools)
command -v redis-server >/dev/null || missing+=(redis-server)
/usr/bin/python3 -c 'import redis' >/dev/null 2>&1 || missing+=(python3-redis)
command -v tmux >/dev/null || missing+=(tmux)
[ ${#missing[@]} -eq 0 ] && exit 0

packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-tools: installing ${packages}(needed by the client tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # shellcheck disable=SC2086
  apt-get install -y -qq $packages >&2
  exit 0
fi
echo "ensure-tools: the tests need these Debian packages: ${packages}" >&2
echo "  install them with: sudo apt-get install -y ${packages}" >&2
exit 1
