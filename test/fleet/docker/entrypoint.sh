#!/bin/sh
# Start one fleet host: keep a stable host key, install deploy's authorized key, run sshd.
set -eu

KEYS=/etc/ssh/keys                                    # a named volume: survives restarts
HOSTKEY=$KEYS/ssh_host_ed25519_key
PUB=${FLEET_AUTHORIZED_KEY:-/etc/fleet/authorized_key.pub}   # bind-mounted, read-only

# Generate the host key once; later starts reuse it, so known_hosts stays valid.
mkdir -p "$KEYS" /run/sshd
if [ ! -f "$HOSTKEY" ]; then
  ssh-keygen -q -t ed25519 -N '' -C "$(hostname)" -f "$HOSTKEY"
fi

# Copy the mounted public key in place (the mount itself has the host's owner and mode).
if [ ! -s "$PUB" ]; then
  echo "fleet: $PUB is missing or empty; run test/fleet/docker/setup-keys.sh first" >&2
  exit 1
fi
install -d -o deploy -g deploy -m 700 /home/deploy/.ssh
install -o deploy -g deploy -m 600 "$PUB" /home/deploy/.ssh/authorized_keys

# Publish the host key in the container log (`docker compose logs`), as a known_hosts line
# when FLEET_PORT says where it is published, so scanned keys can be checked against it.
set -- $(cat "$HOSTKEY.pub")
echo "fleet: host key fingerprint: $(ssh-keygen -l -f "$HOSTKEY.pub")"
echo "fleet: known_hosts line: [127.0.0.1]:${FLEET_PORT:-22} $1 $2"

exec /usr/sbin/sshd -D -e
