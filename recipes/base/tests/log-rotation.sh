#!/bin/sh
# Logs are bounded: the firstboot agent's log rotates, journald has a ceiling.
set -eu
logrotate --debug /etc/logrotate.d/bakery-firstboot 2>&1 | grep -q "bakery-firstboot.log"
grep -q '^SystemMaxUse=' /etc/systemd/journald.conf.d/50-bakery.conf
echo "log rotation in place"
