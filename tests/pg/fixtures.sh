#!/usr/bin/env bash
# tests/pg/fixtures.sh DIR - write the migration directories the PostgreSQL
# tests use into DIR (readable by the postgres OS user), each with its
# atlas.sum computed by atlas_hash.py.
set -eu
DIR=$1
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"

# mk NAME FILE CONTENT [FILE CONTENT]...
mk() {
	local d=$DIR/$1
	shift
	mkdir -p "$d"
	while [ $# -gt 0 ]; do
		printf '%s' "$2" >"$d/$1"
		shift 2
	done
	/usr/bin/python3 "$HERE/atlas_hash.py" "$d"
}

# five files: tables, data, a NOTICE from a DO block, a txmode-none file
mk five \
	1_users.sql 'CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO users VALUES (1, '"'a'"'), (2, '"'b'"');
' \
	2_pets.sql 'CREATE TABLE pets (id bigint PRIMARY KEY, owner bigint REFERENCES users);
' \
	3_hello.sql 'DO $$ BEGIN RAISE NOTICE '"'hello from file 3'"'; END $$;
' \
	4_email.sql '-- atlas:txmode none

ALTER TABLE users ADD COLUMN email text;
VACUUM users;
' \
	5_index.sql 'CREATE INDEX users_email_idx ON users (email);
'

# file 3 of 5 fails at its second statement
mk fail3 \
	1_a.sql 'CREATE TABLE f1 (x int);
' \
	2_b.sql 'CREATE TABLE f2 (x int);
' \
	3_c.sql 'CREATE TABLE f3 (x int);
INSERT INTO f3 VALUES (1 / 0);
' \
	4_d.sql 'CREATE TABLE f4 (x int);
' \
	5_e.sql 'CREATE TABLE f5 (x int);
'
# the same, fixed
mk fail3_fixed \
	1_a.sql 'CREATE TABLE f1 (x int);
' \
	2_b.sql 'CREATE TABLE f2 (x int);
' \
	3_c.sql 'CREATE TABLE f3 (x int);
INSERT INTO f3 VALUES (1 / 1);
' \
	4_d.sql 'CREATE TABLE f4 (x int);
' \
	5_e.sql 'CREATE TABLE f5 (x int);
'

# three good files and a broken fourth (tx modes)
mk txmodes \
	1_first.sql 'CREATE TABLE t1 (id bigint);
' \
	2_second.sql 'CREATE TABLE t2 (id bigint);
' \
	3_third.sql 'CREATE TABLE t3 (id bigint);
' \
	4_fourth.sql 'CREATE TABLE broken (id bigint);
THIS IS A FAILING STATEMENT;
'

# CREATE INDEX CONCURRENTLY in a txmode-none file
mk cic \
	1_table.sql 'CREATE TABLE cic_t (id int, v text);
INSERT INTO cic_t SELECT g, g::text FROM generate_series(1, 1000) g;
' \
	2_index.sql '-- atlas:txmode none

CREATE INDEX CONCURRENTLY cic_t_v_idx ON cic_t (v);
'

# statements that refuse to run in a transaction block, in a txmode-none file
mk notx \
	1_t.sql 'CREATE TABLE notx_t (id int);
' \
	2_maint.sql '-- atlas:txmode none

CREATE INDEX CONCURRENTLY notx_t_id ON notx_t (id);
VACUUM (ANALYZE) notx_t;
ALTER SYSTEM SET work_mem = '"'5MB'"';
'

# a migration that alters a table the caller may be reading
mk alter_t \
	1_alter.sql 'ALTER TABLE sb_t ADD COLUMN added int;
'

# what a role may and may not do
mk roles_ok \
	1_own.sql 'CREATE TABLE owned AS SELECT session_user::text AS session_role, current_user::text AS current_role;
'
mk roles_bad \
	1_own.sql 'CREATE TABLE owned AS SELECT session_user::text AS session_role, current_user::text AS current_role;
' \
	2_other.sql 'CREATE TABLE regress_other_schema.stolen (id int);
'

# non-ASCII text through a LATIN1 client
mk latin1 \
	1_cafe.sql 'CREATE TABLE menu (item text);
INSERT INTO menu VALUES ('"'café'"');
DO $$ BEGIN RAISE NOTICE '"'served: %'"', (SELECT item FROM menu); END $$;
'

# concurrency: every file logs its execution; file 3 is slow
mk concurrent \
	1_log.sql 'CREATE TABLE exec_log (version text, at timestamptz DEFAULT clock_timestamp());
INSERT INTO exec_log (version) VALUES ('"'1'"');
' \
	2_b.sql 'INSERT INTO exec_log (version) VALUES ('"'2'"');
' \
	3_slow.sql 'SELECT pg_sleep(1.5);
INSERT INTO exec_log (version) VALUES ('"'3'"');
' \
	4_d.sql 'INSERT INTO exec_log (version) VALUES ('"'4'"');
' \
	5_e.sql 'INSERT INTO exec_log (version) VALUES ('"'5'"');
'

# cancel / terminate: file 2 sleeps
mk sleepy \
	1_a.sql 'CREATE TABLE s1 (x int);
' \
	2_sleep.sql 'CREATE TABLE s2 (x int);
SELECT pg_sleep(30);
' \
	3_c.sql 'CREATE TABLE s3 (x int);
'
mk sleepy_fixed \
	1_a.sql 'CREATE TABLE s1 (x int);
' \
	2_sleep.sql 'CREATE TABLE s2 (x int);
SELECT pg_sleep(0);
' \
	3_c.sql 'CREATE TABLE s3 (x int);
'

# pg_cron: one job that applies, one whose second file fails
mk cron_ok \
	1_a.sql 'CREATE TABLE cron_a (x int);
' \
	2_b.sql 'CREATE TABLE cron_b (x int);
'
mk cron_fail \
	1_a.sql 'CREATE TABLE cronf_a (x int);
' \
	2_b.sql 'CREATE TABLE cronf_b (x int);
SELECT 1 / 0;
'

# issue 8: two files of version 1; a file with an empty version; a NUL byte
mk dupver \
	1_a.sql 'CREATE TABLE dup_a (x int);
' \
	1_b.sql 'CREATE TABLE dup_b (x int);
'
mk emptyver \
	1_a.sql 'CREATE TABLE ev_a (x int);
' \
	_x.sql 'CREATE TABLE ev_x (x int);
'
mkdir -p "$DIR/nulbyte"
printf 'CREATE TABLE nul_a (x int);\n' >"$DIR/nulbyte/1_a.sql"
printf 'CREATE TABLE nul_b (x int);\nINSERT INTO nul_b VALUES (1);\0 DROP TABLE nul_a;\n' >"$DIR/nulbyte/2_b.sql"
/usr/bin/python3 "$HERE/atlas_hash.py" "$DIR/nulbyte"
# tx mode none: statements with their rows (issue 8)
mk none_kill \
	1_t.sql '-- atlas:txmode none

CREATE TABLE nk (x int);
INSERT INTO nk VALUES (1);
INSERT INTO nk VALUES (2);
INSERT INTO nk SELECT 3 FROM (SELECT pg_advisory_xact_lock(4242)) gate;
'
# a txmode-none file that opens a transaction and never ends it; then fixed
mk none_open \
	1_a.sql 'CREATE TABLE no_a (x int);
' \
	2_open.sql '-- atlas:txmode none

CREATE TABLE no_b (x int);
BEGIN;
INSERT INTO no_b VALUES (1);
' \
	3_c.sql 'CREATE TABLE no_c (x int);
'
mk none_open_fixed \
	1_a.sql 'CREATE TABLE no_a (x int);
' \
	2_open.sql '-- atlas:txmode none

CREATE TABLE no_b (x int);
BEGIN;
INSERT INTO no_b VALUES (1);
COMMIT;
' \
	3_c.sql 'CREATE TABLE no_c (x int);
'
# a migration that waits on a lock the test holds (the caller waits long)
mk lockwait \
	1_wait.sql 'LOCK TABLE lw_t IN ACCESS EXCLUSIVE MODE;
INSERT INTO lw_t VALUES (1);
'
# non-ASCII text in non-UTF8 databases: a file written in LATIN1 (é = 0xE9,
# not valid UTF-8): data, a NOTICE, an error message
mk enc_ok \
	1_cafe.sql "CREATE TABLE enc_menu (item text);
INSERT INTO enc_menu VALUES ('caf"$'\xe9'"');
DO \$\$ BEGIN RAISE NOTICE 'served: %', (SELECT item FROM enc_menu); END \$\$;
"
mk enc_fail \
	1_cafe.sql "CREATE TABLE enc_menu (item text);
INSERT INTO enc_menu VALUES ('caf"$'\xe9'"');
" \
	2_bad.sql "SELECT \"cr"$'\xe8'"me\" FROM enc_menu;
"
# CALL atlas_migrate: CREATE INDEX CONCURRENTLY, then a failing file
mk cic_fail \
	1_table.sql 'CREATE TABLE cf_t (id int, v text);
INSERT INTO cf_t SELECT g, g::text FROM generate_series(1, 1000) g;
' \
	2_index.sql '-- atlas:txmode none

CREATE INDEX CONCURRENTLY cf_t_v_idx ON cf_t (v);
' \
	3_fail.sql 'CREATE TABLE cf_3 (x int);
SELECT 1 / 0;
'

# schema per tenant: unqualified names, land in the env URL's search_path
mk tenant \
	1_accounts.sql 'CREATE TABLE accounts (id int PRIMARY KEY, schema_seen text);
CREATE INDEX accounts_schema_idx ON accounts (schema_seen);
' \
	2_seed.sql 'INSERT INTO accounts VALUES (1, current_schema());
'

# rehearsal inside the caller's transaction: three files, the last SETs a setting
mk rehearse \
	1_a.sql 'CREATE TABLE r_a (id int PRIMARY KEY, schema_seen text);
INSERT INTO r_a VALUES (1, current_schema());
' \
	2_b.sql 'CREATE TABLE r_b (id int REFERENCES r_a);
' \
	3_c.sql 'CREATE INDEX r_a_schema ON r_a (schema_seen);
SET lock_timeout = '"'7s'"';
'
# ... file 2 fails at its third statement
mk rehearse_fail \
	1_a.sql 'CREATE TABLE rf_a (id int);
' \
	2_b.sql 'CREATE TABLE rf_b (n bigint);
INSERT INTO rf_b SELECT count(*) FROM rf_a;
SELECT 1 / 0;
'
# ... CREATE INDEX CONCURRENTLY in a file without a txmode directive
mk rehearse_cic \
	1_a.sql 'CREATE TABLE rc_a (id int);
' \
	2_idx.sql 'CREATE TABLE rc_b (id int);
CREATE INDEX CONCURRENTLY rc_a_id ON rc_a (id);
'

# ---------------------------------------------------------------- lock retries (issue 11)
# file 1 creates orders (applied first, amount => 1); the later files alter it
LR_ORDERS='CREATE TABLE orders (id bigint PRIMARY KEY);
INSERT INTO orders SELECT pg_catalog.generate_series(1, 100);
'
mk lr_file \
	1_orders.sql "$LR_ORDERS" \
	2_note.sql 'CREATE TABLE lr_audit (id int);
ALTER TABLE orders ADD COLUMN note text;
'
mk lr_all \
	1_orders.sql "$LR_ORDERS" \
	2_other.sql 'CREATE TABLE lr_other (id int);
' \
	3_note.sql 'ALTER TABLE orders ADD COLUMN note text;
'
mk lr_none \
	1_orders.sql "$LR_ORDERS" \
	2_note.sql '-- atlas:txmode none

CREATE TABLE lr_before (id int);
ALTER TABLE orders ADD COLUMN note text;
'
# what lock_timeout each statement runs with (its own SET does not stick)
mk lr_show \
	1_seen.sql 'CREATE TABLE lr_seen AS SELECT 1 AS n, current_setting('"'lock_timeout'"') AS lock_timeout;
SET lock_timeout = '"'5s'"';
INSERT INTO lr_seen SELECT 2, current_setting('"'lock_timeout'"');
'
# a statement that fails for another reason than a lock
mk lr_bad \
	1_orders.sql "$LR_ORDERS" \
	2_dup.sql 'ALTER TABLE orders ADD COLUMN id int;
'

# issue 13: the session settings a migration sees in the worker
mk worker_settings \
	1_settings.sql 'CREATE TABLE worker_settings AS
SELECT current_setting('"'work_mem'"') AS work_mem, current_setting('"'TimeZone'"') AS timezone,
       current_setting('"'statement_timeout'"') AS statement_timeout,
       current_setting('"'application_name'"') AS application_name,
       current_setting('"'app.tenant'"', true) AS app_tenant, current_setting('"'DateStyle'"') AS datestyle,
       current_setting('"'search_path'"') AS search_path, session_user::text AS session_role,
       current_user::text AS current_role_;
'

# pre-flight check (14_check): every rule, on tables with rows (orders,
# customers), an empty one (vacant) and a table new in the pending set (fresh)
mk check \
	1_new.sql 'CREATE TABLE fresh (id int, v int, name text);
CREATE INDEX fresh_v ON fresh (v);
ALTER TABLE fresh ALTER COLUMN v TYPE bigint;
ALTER TABLE fresh ADD COLUMN r float8 DEFAULT random();
ALTER TABLE fresh ALTER COLUMN name SET NOT NULL;
ALTER TABLE fresh ADD CONSTRAINT fresh_v_pos CHECK (v > 0);
ALTER TABLE fresh RENAME COLUMN name TO title;
DELETE FROM fresh;
DROP TABLE fresh;
' \
	2_index.sql 'CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX vacant_x ON vacant (x);
' \
	3_types.sql 'ALTER TABLE orders ALTER COLUMN amount TYPE bigint;
ALTER TABLE orders ALTER COLUMN note TYPE varchar(40);
ALTER TABLE orders ALTER COLUMN code TYPE varchar(10);
ALTER TABLE orders ALTER COLUMN note TYPE text;
ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT now();
ALTER TABLE orders ADD COLUMN token float8 DEFAULT random();
ALTER TABLE orders SET ACCESS METHOD heap;
ALTER TABLE vacant ALTER COLUMN x TYPE bigint;
' \
	4_scans.sql 'ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;
ALTER TABLE orders ADD CONSTRAINT amount_pos CHECK (amount > 0);
ALTER TABLE orders ADD CONSTRAINT amount_pos2 CHECK (amount > 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT amount_pos2;
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk2 FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
' \
	5_destroy.sql 'UPDATE orders SET note = '"'x'"';
UPDATE orders SET note = '"'y'"' WHERE id = 1;
DELETE FROM customers WHERE id > 100;
DELETE FROM vacant;
ALTER TABLE orders DROP COLUMN code;
ALTER TABLE orders RENAME COLUMN note TO remark;
ALTER TABLE vacant RENAME TO empty_table;
TRUNCATE vacant;
DROP TABLE customers;
' \
	6_cic.sql 'CREATE INDEX CONCURRENTLY orders_amount ON orders (amount);
' \
	7_cic_none.sql '-- atlas:txmode none

CREATE INDEX CONCURRENTLY orders_note ON orders (note);
'

# no atlas.sum at all
mkdir -p "$DIR/nosum"
printf 'CREATE TABLE nosum (x int);\n' >"$DIR/nosum/1_a.sql"

chmod -R a+rX "$DIR"
