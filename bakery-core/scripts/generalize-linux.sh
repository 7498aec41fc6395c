#!/bin/sh
# bakery's generalize step: remove what must not be cloned into every instance
# launched from the image. Runs as root through SSM Run Command, last before stop.
set -u

# The builder's deadline (its dead-man's switch keeps running until the stop).
rm -f /var/lib/bakery/deadline
rmdir /var/lib/bakery 2>/dev/null || true

# Host keys: each instance must make its own on first boot.
rm -f /etc/ssh/ssh_host_*

# machine-id: an empty file makes systemd generate a new one on first boot.
if [ -f /etc/machine-id ]; then
    : > /etc/machine-id
fi
rm -f /var/lib/dbus/machine-id

# cloud-init: forget this instance so the next boot runs as a first boot.
if command -v cloud-init >/dev/null 2>&1; then
    cloud-init clean --logs --seed || true
else
    rm -rf /var/lib/cloud/instances /var/lib/cloud/instance
fi

# Shell history and temporary files (not the running step's own folder).
rm -f /root/.bash_history /root/.ash_history /home/*/.bash_history
find /tmp /var/tmp -mindepth 1 -maxdepth 1 ! -name 'bakery-step.*' -exec rm -rf {} + 2>/dev/null || true

# Logs: rotated files go, live files are emptied so their owners and modes stay.
find /var/log -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \) -delete 2>/dev/null || true
find /var/log -type f -exec sh -c ': > "$1"' _ {} \; 2>/dev/null || true
if command -v journalctl >/dev/null 2>&1; then
    journalctl --rotate >/dev/null 2>&1 || true
    journalctl --vacuum-time=1s >/dev/null 2>&1 || true
fi

sync
echo "bakery: generalized (host keys, machine-id, cloud-init state, history, logs)"
