#!/usr/bin/env bash
# The Cloud part of make demo: the seed's atlas.hcl, the migration directory
# served by the local stand-in for the Atlas Cloud API (loopback only), an
# apply from SQLite, and the deployment the stand-in recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

WORK=$(mktemp -d /tmp/atlas_migrate_cloud.XXXXXX)
mkdir -p "$WORK/dirs/app"
cp examples/migrations/*.sql examples/migrations/atlas.sum "$WORK/dirs/app/"
export ATLAS_TOKEN="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export DATABASE_URL="sqlite://$WORK/app.db"
printf '%s\n' "$ATLAS_TOKEN" >"$WORK/token"
chmod 600 "$WORK/token"

/usr/bin/python3 tests/cloud/server.py --port 0 --port-file "$WORK/port" --dirs "$WORK/dirs" \
	--token-file "$WORK/token" --reports-file "$WORK/reports" --log-file "$WORK/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$WORK/port")/query"
sed "s|STANDIN_URL|$URL|" examples/atlas-cloud.hcl >"$WORK/atlas.hcl"

bold "Cloud: stand-in for the Atlas Cloud API at $URL, serving atlas://app"
grep -v '^#' "$WORK/atlas.hcl" | sed '/^$/d'
bold "Cloud: SELECT atlas_migrate_apply('prod') in SQLite"
sqlite3 -cmd ".load $ROOT/build/atlas_migrate" "$WORK/app.db" \
	"SELECT atlas_config_set(readfile('$WORK/atlas.hcl'));" \
	"SELECT json_extract(r, '\$.Log') || char(10) || 'deployment: ' || json_extract(r, '\$.DeploymentURL')
	   FROM (SELECT atlas_migrate_apply('prod') AS r);"
bold "Cloud: the deployment the stand-in recorded"
/usr/bin/python3 - "$WORK/reports" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    i = json.loads(line)["variables"]["input"]
    print("project=%s env=%s dir=%s target=%s from=%r to=%s current=%s" % (
        i["projectName"], i["envName"], i["dirName"], i["target"]["id"], i["fromVersion"],
        i["toVersion"], i["currentVersion"]))
    for f in i["files"]:
        print("  %-45s %d statements%s" % (f["name"], f["applied"], "  ERROR " + f["error"]["text"] if f.get("error") else ""))
PY
if grep -rqF "$ATLAS_TOKEN" "$WORK/reports" "$WORK/server.log" "$WORK/app.db"; then
	echo "the token leaked" >&2
	exit 1
fi
echo "(the token appears in neither the report, the server log nor the database)"
