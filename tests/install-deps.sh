#!/bin/sh
# Install the Debian 12 packages that building and testing need, when missing.
# Run as root (as CI and the README's commands do); prints what it installs.
# With arguments: those packages instead (make deb: debhelper, pg_buildext).
set -eu

PKGS="make gcc clang pkg-config libcurl4-openssl-dev libcjson-dev libssl-dev openssl
libsqlite3-dev sqlite3 libcmocka-dev python3 postgresql-15 postgresql-server-dev-15
postgresql-15-cron postgresql-client-15 ca-certificates"
PKGS="$PKGS time"	# make bench: the peak RSS of the processes it times
[ $# -gt 0 ] && PKGS="$*"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "atlas_migrate: missing packages:$missing" >&2
	echo "atlas_migrate: run 'make deps' as root (or apt-get install them)" >&2
	exit 1
fi
echo "atlas_migrate: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
