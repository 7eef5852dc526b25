#!/bin/sh
# tenants.sh - p11dkimd with 100, 1,000 and 10,000 institutions, each on
# its own SoftHSM2 token: see bench/tenants.py for what it measures.
#
#   bench/tenants.sh [-s 100,1000,10000] [-c CACHE] [-d SECONDS] [-q]
#
# The fixtures are built once (bench/tenants_build) and kept in CACHE
# (default ~/.cache/p11dkim-tenants): 10,000 institutions take a while the
# first time.  Binaries come from ${BUILD:-build}/.
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/tenants.py "$@"
