#!/bin/sh
# Nothing of the builder was cloned: this instance made its own host keys and
# machine-id on this boot (generalize removed the builder's).
set -eu
booted=$(awk '/^btime/ {print $2}' /proc/stat)
for key in /etc/ssh/ssh_host_*_key; do
    [ "$(stat -c %Y "$key")" -ge "$booted" ] || { echo "$key predates this boot: cloned from the builder" >&2; exit 1; }
done
[ -s /etc/machine-id ] || { echo "/etc/machine-id is empty" >&2; exit 1; }
[ "$(stat -c %Y /etc/machine-id)" -ge "$booted" ] || { echo "/etc/machine-id predates this boot" >&2; exit 1; }
echo "host keys and machine-id are this instance's own"
