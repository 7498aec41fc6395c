#!/bin/sh
# Bring the image up to date and install what every role relies on.
# Bake discipline: install and enable, but start nothing that a real boot should start.
set -eu

dnf -y upgrade --refresh
dnf -y install amazon-ssm-agent chrony logrotate awscli-2
systemctl enable amazon-ssm-agent chronyd
