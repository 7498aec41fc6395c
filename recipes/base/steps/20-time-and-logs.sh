#!/bin/sh
# Time from the Amazon Time Sync Service; bounded logs.
set -eu

# chrony: the link-local Amazon Time Sync Service first (AL2023 has it already).
if [ -d /etc/chrony/sources.d ]; then
    echo "server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4" >/etc/chrony/sources.d/amazon.sources
fi

# journald: persistent, but bounded.
install -d -m 0755 /etc/systemd/journald.conf.d
cat >/etc/systemd/journald.conf.d/50-bakery.conf <<CONF
[Journal]
Storage=persistent
SystemMaxUse=${JOURNAL_MAX_USE}
CONF

# The firstboot agent's log, rotated like the others.
cat >/etc/logrotate.d/bakery-firstboot <<'CONF'
/var/log/bakery-firstboot.log {
    monthly
    rotate 4
    compress
    missingok
    notifempty
}
CONF
logrotate --debug /etc/logrotate.d/bakery-firstboot >/dev/null 2>&1
