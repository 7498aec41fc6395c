#!/bin/sh
# A hardened sshd: keys only, no root, only the allowed groups, modern ciphers.
set -eu

install -d -m 0755 /etc/ssh/sshd_config.d
cat >/etc/ssh/sshd_config.d/50-bakery-hardening.conf <<CONF
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
X11Forwarding no
AllowAgentForwarding no
MaxAuthTries 3
LoginGraceTime 30
ClientAliveInterval 300
ClientAliveCountMax 2
AllowGroups ${SSH_ALLOW_GROUPS}
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com
MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com
CONF
chmod 0600 /etc/ssh/sshd_config.d/50-bakery-hardening.conf
# The groups named in AllowGroups exist, so that nobody is locked out by a typo.
for group in ${SSH_ALLOW_GROUPS}; do
    getent group "$group" >/dev/null || groupadd --system "$group"
done
# Host keys are made for the check and removed again by generalize.
ssh-keygen -A >/dev/null
sshd -t
