#!/bin/sh
# A hardened sshd: keys only, no root, only the allowed groups.
set -eu

install -d -m 0755 /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/50-bakery-hardening.conf <<CONF
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
X11Forwarding no
AllowGroups ${SSH_ALLOW_GROUPS}
CONF
chmod 0600 /etc/ssh/sshd_config.d/50-bakery-hardening.conf
sshd -t
