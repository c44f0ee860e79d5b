#!/usr/bin/env bash
# Runs every test on a Debian machine, fresh or not: installs what the tests need when it is missing
# (the Debian packages, node_modules), starts a Docker engine when none answers, then `npm test`.
# Everything already there is left as it is, so running it again costs only the tests. A dockerd
# it starts keeps running afterwards (the next run, and anything else, can use it).
# Arguments go to the test runner: scripts/test-all.sh test/auth/ runs the files whose path has it.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test-all: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# docker.io: the engine and CLI; skopeo, buildah, podman: clients under test; docker-registry: CNCF
# Distribution (import source, benchmark); apache2-utils: htpasswd; busybox-static: test images;
# bsdutils: script(1), a pseudo-terminal for the log format test.
packages=(docker.io skopeo buildah podman docker-registry apache2-utils busybox-static openssl git ca-certificates bsdutils)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm's own rule for trusting node_modules: its hidden lock file is newer than the manifests.
if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (vfs, no bridge, no iptables); its log: /tmp/berth-dockerd.log"
  # Its own session, so it outlives this script and whatever signal ends the script's group.
  as_root setsid nohup dockerd --storage-driver vfs --bridge=none --iptables=false --ip6tables=false \
    >/tmp/berth-dockerd.log 2>&1 </dev/null &
  deadline=$((SECONDS + 60))
  until docker info >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      say "dockerd did not answer within 60 s"
      tail -50 /tmp/berth-dockerd.log >&2 || true
      exit 1
    fi
    sleep 1
  done
fi

if [ $# -gt 0 ]; then npm test -- "$@"; else npm test; fi
