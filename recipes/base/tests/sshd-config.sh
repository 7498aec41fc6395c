#!/bin/sh
# sshd accepts its configuration, and the hardening is what it runs with.
set -eu
sshd -t
effective=$(sshd -T)
for setting in "permitrootlogin no" "passwordauthentication no" "x11forwarding no" "maxauthtries 3"; do
    echo "$effective" | grep -qx "$setting" || { echo "sshd runs without: $setting" >&2; exit 1; }
done
echo "sshd config valid and hardened"
