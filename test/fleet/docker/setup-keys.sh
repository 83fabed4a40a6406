#!/bin/sh
# Keys for the Docker test fleet (docker-compose.test.yml at the repo root).
#   setup-keys.sh              create the client key keys/id_ed25519 if missing (before `up`)
#   setup-keys.sh known_hosts  also write keys/known_hosts from the running fleet (after `up`)
set -eu
cd "$(dirname "$0")"
mkdir -p keys

if [ ! -f keys/id_ed25519 ]; then
  ssh-keygen -q -t ed25519 -N '' -C fap-docker-fleet -f keys/id_ed25519
  echo "created $(pwd)/keys/id_ed25519"
fi
[ "${1:-}" = known_hosts ] || exit 0

# ssh-keyscan trusts whatever answers on the port. That is fine for a local test fleet; for real
# hosts, verify fingerprints out of band. Here, compare the fingerprints printed below with
# `docker compose -f docker-compose.test.yml logs | grep fingerprint`.
tmp=keys/known_hosts.tmp
: > "$tmp"
for port in 2201 2202 2203; do
  tries=0
  until ssh-keyscan -T 3 -t ed25519 -p "$port" 127.0.0.1 2>/dev/null > keys/scan.tmp && [ -s keys/scan.tmp ]; do
    tries=$((tries + 1))
    if [ "$tries" -ge 10 ]; then
      rm -f "$tmp" keys/scan.tmp
      echo "no sshd answers on 127.0.0.1:$port; is the fleet up?" >&2
      exit 1
    fi
    sleep 1
  done
  cat keys/scan.tmp >> "$tmp"
done
rm -f keys/scan.tmp
mv "$tmp" keys/known_hosts
echo "wrote $(pwd)/keys/known_hosts:"
ssh-keygen -l -f keys/known_hosts
