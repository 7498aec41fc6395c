#!/bin/sh
# Java runs.
set -eu
java -version 2>&1 | head -n 1
