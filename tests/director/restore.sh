#!/usr/bin/env bash
# Restore an Icinga Director basket into a real Icinga Director and export what the
# Director made of it (tests/test_director.py reads the export):
#
#   tests/director/restore.sh BASKET OUT.json [HOST HOST_JSON]
#
# HOST, HOST_JSON: a host the Director creates after the restore, e.g.
#   entra-ci '{"imports": ["entra-tenant"]}'
# so that the rendered configuration has a host for the basket's apply rules.
#
# OUT.json, one JSON object:
#   config_checksum   the configuration `icingacli director config render` made
#   files             {path: content} of its files (zones.d/ZONE/NAME.conf)
#   datafields        the data fields (director_datafield, with their settings)
#   host_fields, service_fields
#                     which data fields each host/service template offers
#   commands          the commands, their type and their arguments' names
#   zones             the zones (name, is_global)
#
# Everything is private and thrown away at the end: a MariaDB server on its own datadir
# and socket (no network), an Icinga Web configuration (ICINGAWEB_CONFIGDIR). A system
# MariaDB, /etc/icingaweb2 and /etc/icinga2 are not touched. Needs, on Debian 12:
# icingaweb2-module-director icingacli mariadb-server php-mysql (root not needed).
set -euo pipefail

basket=$(realpath "$1")
out=$2
host=${3:-}
host_json=${4:-}

step() { echo "== $*" >&2; }

# Under /tmp, not in the caller's (long) directory: a socket's path has at most 107 bytes.
work=$(mktemp -d /tmp/director-ci.XXXXXX)
db_pid=
stop() {
    # Whatever happened, the server goes: it would outlive the test otherwise.
    if [ -n "$db_pid" ] && kill "$db_pid" 2>/dev/null; then   # SIGTERM: a clean shutdown
        for _ in $(seq 300); do
            kill -0 "$db_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$db_pid" 2>/dev/null || true
        wait "$db_pid" 2>/dev/null || true
    fi
    # Retried: killed early, mariadb-install-db's bootstrap server may still be writing.
    for _ in $(seq 50); do
        rm -rf "$work" 2>/dev/null && break
        sleep 0.1
    done
}
trap stop EXIT
trap 'exit 143' TERM INT    # so that a kill runs the EXIT trap too

socket=$work/mariadb.sock
# mariadbd refuses to run as root unless told to.
as_user=()
[ "$(id -u)" = 0 ] && as_user=(--user=root)

step "MariaDB: a private server on $socket"
# normal: root@localhost without password (the server has no network, only the socket).
if ! mariadb-install-db --no-defaults "${as_user[@]}" --datadir="$work/data" \
        --auth-root-authentication-method=normal --skip-test-db >"$work/install.log" 2>&1; then
    cat "$work/install.log" >&2
    exit 1
fi
# flush-log-at-trx-commit=0: no fsync per transaction; durability is of no use here and
# the Director commits a lot.
mariadbd --no-defaults "${as_user[@]}" --datadir="$work/data" --socket="$socket" \
    --pid-file="$work/mariadbd.pid" --log-error="$work/mariadbd.log" --skip-networking \
    --innodb-flush-log-at-trx-commit=0 &
db_pid=$!

sql() { mariadb --no-defaults --socket="$socket" --user=root "$@"; }
for _ in $(seq 300); do
    sql -e 'SELECT 1' >/dev/null 2>&1 && break
    if ! kill -0 "$db_pid" 2>/dev/null; then
        cat "$work/mariadbd.log" >&2
        exit 1
    fi
    sleep 0.1
done
sql -e 'CREATE DATABASE director CHARACTER SET utf8mb4'

step "Icinga Web: a private configuration with the director, incubator and reactbundle modules"
export ICINGAWEB_CONFIGDIR=$work/icingaweb2
mkdir -p "$ICINGAWEB_CONFIGDIR/modules/director"
cat >"$ICINGAWEB_CONFIGDIR/resources.ini" <<INI
[director_db]
type = "db"
db = "mysql"
host = "localhost"
dbname = "director"
username = "root"
password = ""
charset = "utf8mb4"
INI
cat >"$ICINGAWEB_CONFIGDIR/modules/director/config.ini" <<INI
[db]
resource = "director_db"
INI
# A db resource has no socket option: host = localhost makes PDO use the default socket,
# which php -d points at ours.
icingacli=$(command -v icingacli)
icingacli() { php -d pdo_mysql.default_socket="$socket" "$icingacli" "$@"; }
for module in reactbundle incubator director; do
    icingacli module enable "$module"    # a link in $ICINGAWEB_CONFIGDIR/enabledModules
done

step "Director: schema"
icingacli director migration run

step "Director: what a kickstart would import"
# A kickstart imports Icinga's zones and ITL commands as external objects (Icinga defines
# them, the Director references them) from a running Icinga 2 API; creating the few the
# basket needs is simpler. The zones of a default master (icinga2 node setup --master):
# without "director-global" known as global, the Director puts the basket's apply rules
# into that global zone by a zone property, which Icinga refuses. The ITL's "dummy": the
# basket's host template checks with it, and the restore must find it.
icingacli director zone create master --object_type external_object >&2
icingacli director zone create director-global --object_type external_object \
    --is_global y >&2
icingacli director command create dummy --object_type external_object \
    --methods_execute DummyCheck >&2

step "Director: basket restore"
icingacli director basket restore <"$basket" >&2

if [ -n "$host" ]; then
    step "Director: host $host"
    icingacli director host create "$host" --json "$host_json" >&2
fi

step "Director: config render"
rendered=$(icingacli director config render)
echo "$rendered" >&2
# "New config with checksum X has been generated" (or "... X already exists")
checksum=$(grep -oE '[0-9a-f]{40}' <<<"$rendered" | head -n 1) || true
if [ -z "$checksum" ]; then
    echo "no config checksum in the output of config render" >&2
    exit 1
fi

step "Export to $out"
# There is no CLI to dump the rendered files: they are rows of the Director's DB. One JSON
# document (--raw: the client must not escape it); the *AGG functions are GROUP_CONCATs
# underneath, hence the large group_concat_max_len.
sql --batch --raw --skip-column-names director >"$out" <<SQL
SET SESSION group_concat_max_len = 1024 * 1024 * 1024;
SELECT JSON_OBJECT(
  'config_checksum', LOWER(HEX(c.checksum)),
  'files', (
    SELECT JSON_OBJECTAGG(cf.file_path, f.content)
    FROM director_generated_config_file cf
    JOIN director_generated_file f ON f.checksum = cf.file_checksum
    WHERE cf.config_checksum = c.checksum),
  'datafields', (
    SELECT JSON_ARRAYAGG(JSON_OBJECT(
      'varname', d.varname, 'caption', d.caption, 'description', d.description,
      'datatype', d.datatype, 'format', d.format,
      'settings', (SELECT JSON_OBJECTAGG(s.setting_name, s.setting_value)
                   FROM director_datafield_setting s WHERE s.datafield_id = d.id)))
    FROM director_datafield d),
  'host_fields', (
    SELECT JSON_ARRAYAGG(JSON_OBJECT(
      'object_name', o.object_name, 'object_type', o.object_type,
      'varname', d.varname, 'is_required', l.is_required))
    FROM icinga_host_field l
    JOIN icinga_host o ON o.id = l.host_id
    JOIN director_datafield d ON d.id = l.datafield_id),
  'service_fields', (
    SELECT JSON_ARRAYAGG(JSON_OBJECT(
      'object_name', o.object_name, 'object_type', o.object_type,
      'varname', d.varname, 'is_required', l.is_required))
    FROM icinga_service_field l
    JOIN icinga_service o ON o.id = l.service_id
    JOIN director_datafield d ON d.id = l.datafield_id),
  'zones', (
    SELECT JSON_ARRAYAGG(JSON_OBJECT('object_name', z.object_name, 'is_global', z.is_global))
    FROM icinga_zone z),
  'commands', (
    SELECT JSON_ARRAYAGG(JSON_OBJECT(
      'object_name', o.object_name, 'object_type', o.object_type,
      'arguments', (SELECT JSON_ARRAYAGG(a.argument_name)
                    FROM icinga_command_argument a WHERE a.command_id = o.id)))
    FROM icinga_command o))
FROM director_generated_config c
WHERE c.checksum = UNHEX('$checksum');
SQL
