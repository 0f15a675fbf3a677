#!/usr/bin/python3
"""The attack suite: what a database owner or a role granted EXECUTE tries
against a superuser's (or pg_cron's) atlas_migrate_apply(), on a running
cluster (PGHOST/PGPORT/PGUSER, started with ATLAS_TOKEN in its environment).
Prints PASS/FAIL/SKIP lines for tests/pg/run.sh.

Roles: sec_owner owns the attacked databases (not a superuser); sec_granted
was granted EXECUTE on the functions (no pg_read_server_files); sec_mig was
granted EXECUTE and pg_read_server_files (file:// migrations).

Every hostile object calls public.sec_hit(), which bumps the sequence
public.sec_canary (non-transactional: an aborted run still shows) and tries
ALTER ROLE sec_owner SUPERUSER.  Each attack asserts what a user sees (the
error text and SQLSTATE) and that the canary did not move.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'cloud'))
from standin import StandIn, write_dir  # noqa: E402

TOKEN = os.environ.get('ATLAS_TOKEN', '')
SEEN = []
APPLY_SIG = 'atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, text, integer, text)'
PIN = 'SET search_path = pg_catalog, pg_temp'


def report(ok, name, why=''):
    print(('PASS %s' % name) if ok else ('FAIL %s: %s' % (name, str(why).replace('\n', ' | ')[:900])))
    sys.stdout.flush()


def psql(db, *cmds, user=None, verbose=True, pin=False):
    """Run commands in one session; returns (rc, stdout, stderr).  pin: the
    test's own statements, with the search_path pinned (the attacked
    databases hold hostile operators)."""
    if pin:
        cmds = (PIN,) + cmds
    args = ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', db]
    if user:
        args += ['-U', user]
    if verbose:
        args += ['-v', 'VERBOSITY=verbose']
    for c in cmds:
        args += ['-c', c]
    p = subprocess.run(args, capture_output=True, text=True)
    SEEN.append(p.stdout + p.stderr)
    return p.returncode, p.stdout.strip(), p.stderr


def val(db, sql):
    """One value, read with a pinned search_path (the attacked databases
    hold hostile operators)."""
    rc, out, err = psql(db, sql, verbose=False, pin=True)
    return out if rc == 0 else 'ERROR: ' + err.strip()


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def dq(s):
    return '$hcl$' + s + '$hcl$'


def canary(db):
    """(times sec_hit() ran, sec_owner became superuser)"""
    hits = val(db, 'SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.sec_canary')
    sup = val('postgres', "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'sec_owner'")
    return hits, sup


def untouched(db):
    return canary(db) == ('0', 'f')


def sqlstate(err):
    m = re.search(r'^ERROR:  ([0-9A-Z]{5}): ', err, re.M)
    return m.group(1) if m else ''


def errline(err):
    m = re.search(r'^ERROR:  (?:[0-9A-Z]{5}: )?(.*)$', err, re.M)
    return m.group(1) if m else ''


# ---------------------------------------------------------------- setup

HOSTILE = r"""
CREATE FUNCTION public.sec_hit() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
	PERFORM pg_catalog.nextval('public.sec_canary');
	BEGIN
		EXECUTE 'ALTER ROLE sec_owner SUPERUSER';
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	RETURN false;
END $f$;
CREATE FUNCTION public.sec_nn(name, name) RETURNS boolean LANGUAGE sql AS 'SELECT public.sec_hit()';
CREATE FUNCTION public.sec_nt(name, text) RETURNS boolean LANGUAGE sql AS 'SELECT public.sec_hit()';
CREATE FUNCTION public.sec_tt(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT public.sec_hit()';
CREATE FUNCTION public.sec_oo(oid, oid) RETURNS boolean LANGUAGE sql AS 'SELECT public.sec_hit()';
CREATE FUNCTION public.sec_cc("char", "char") RETURNS boolean LANGUAGE sql AS 'SELECT public.sec_hit()';
CREATE FUNCTION public.sec_ii(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT public.sec_hit()';
CREATE OPERATOR public.!~~ (LEFTARG = name, RIGHTARG = name, FUNCTION = public.sec_nn);
CREATE OPERATOR public.~~ (LEFTARG = name, RIGHTARG = name, FUNCTION = public.sec_nn);
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.sec_nn);
CREATE OPERATOR public.<> (LEFTARG = name, RIGHTARG = name, FUNCTION = public.sec_nn);
CREATE OPERATOR public.~~ (LEFTARG = name, RIGHTARG = text, FUNCTION = public.sec_nt);
CREATE OPERATOR public.!~~ (LEFTARG = name, RIGHTARG = text, FUNCTION = public.sec_nt);
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.sec_tt);
CREATE OPERATOR public.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = public.sec_tt);
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = public.sec_oo);
CREATE OPERATOR public.<> (LEFTARG = oid, RIGHTARG = oid, FUNCTION = public.sec_oo);
CREATE OPERATOR public.= (LEFTARG = "char", RIGHTARG = "char", FUNCTION = public.sec_cc);
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.sec_ii);
CREATE OPERATOR public.<> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.sec_ii);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.sec_hit(); RETURN pg_catalog.now(); END $f$;
CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.sec_hit(); RETURN pg_catalog.now(); END $f$;
CREATE FUNCTION public.format(text, VARIADIC text[]) RETURNS text LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.sec_hit(); RETURN ''; END $f$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.sec_hit(); RETURN $1; END $f$;
CREATE FUNCTION public.count(bigint) RETURNS bigint LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.sec_hit(); RETURN 0; END $f$;
CREATE FUNCTION public.gen_random_uuid() RETURNS uuid LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.sec_hit(); RETURN pg_catalog.gen_random_uuid(); END $f$;
CREATE FUNCTION public.session_user() RETURNS name LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.sec_hit(); RETURN 'x'; END $f$;
CREATE FUNCTION public.text(name) RETURNS text LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.sec_hit(); RETURN $1::pg_catalog.text; END $f$;
CREATE VIEW public.atlas_schema_revisions AS SELECT ''::varchar AS version WHERE public.sec_hit();
CREATE VIEW public.pg_class AS SELECT * FROM pg_catalog.pg_class WHERE public.sec_hit();
CREATE VIEW public.pg_namespace AS SELECT * FROM pg_catalog.pg_namespace WHERE public.sec_hit();
CREATE VIEW public.pg_depend AS SELECT * FROM pg_catalog.pg_depend WHERE public.sec_hit();
CREATE VIEW public.pg_roles AS SELECT * FROM pg_catalog.pg_roles WHERE public.sec_hit();
"""


def attacked_db(name):
    """A database owned by sec_owner, the extension installed by the
    superuser, hostile objects planted in public by sec_owner, and public
    put first in the database's search_path (ALTER DATABASE, which a
    database owner may run)."""
    psql('postgres', 'CREATE DATABASE %s OWNER sec_owner' % name)
    psql(name, 'CREATE EXTENSION atlas_migrate',
         'CREATE SEQUENCE public.sec_canary', 'GRANT USAGE, UPDATE ON SEQUENCE public.sec_canary TO PUBLIC',
         'GRANT EXECUTE ON FUNCTION %s TO sec_granted, sec_mig' % APPLY_SIG,
         'GRANT EXECUTE ON FUNCTION atlas_migrate_status(text) TO sec_granted, sec_mig',
         'GRANT EXECUTE ON FUNCTION atlas_config_set(text) TO sec_granted, sec_mig')
    rc, _, err = psql(name, HOSTILE, user='sec_owner')
    if rc != 0:
        report(False, 'security: plant hostile objects in %s' % name, err)
    psql(name, 'ALTER DATABASE %s SET search_path = public, pg_catalog' % name, user='sec_owner')


def env_block(name, d, extra=''):
    return 'env "%s" {\n  migration {\n    dir = "file://%s"\n%s  }\n}\n' % (name, d, extra)


# ---------------------------------------------------------------- attacks

def hijack(fix, cloud):
    """search_path hijacks through every path a superuser's call takes."""
    db = 'sec_h'
    attacked_db(db)
    hcl = (env_block('dev', fix['h1']) + env_block('dev2', fix['h2'])
           + env_block('base', fix['bs'], '    revisions_schema = "rev_base"\n    baseline = "1"\n')
           + env_block('res', fix['res'], '    revisions_schema = "rev_res"\n')
           + env_block('rh', fix['rh'], '    revisions_schema = "rev_rh"\n'))
    if cloud:
        hcl += ('atlas {\n  cloud {\n    token = getenv("ATLAS_TOKEN")\n    url = "%s"\n  }\n}\n'
                'env "cloud" {\n  migration {\n    dir = "atlas://app"\n    revisions_schema = "rev_cloud"\n  }\n}\n' % cloud.url)
    rc, _, err = psql(db, 'SELECT atlas_config_set(%s)' % dq(hcl))
    report(rc == 0 and untouched(db), 'security: atlas_config_set in a hijacked database', (err, canary(db)))

    path = psql(db, 'SHOW search_path')[1]
    report(path == 'public, pg_catalog', 'security: the database owner put public before pg_catalog', path)

    # the reviewer's case: empty history, no baseline/allow_dirty, a dry run
    rc, out, err = psql(db, "SELECT atlas_migrate_apply('dev', dry_run => true)->>'Status'")
    report(rc == 0 and out == 'succeeded' and untouched(db),
           'security: dry run, empty history (clean check): no hostile operator or function runs', (out, err, canary(db)))
    rc, out, err = psql(db, "SELECT string_agg(status, ',') FROM atlas_migrate_status('dev')")
    report(rc == 0 and out == 'pending' and untouched(db), 'security: status: nothing hostile runs', (out, err, canary(db)))
    rc, out, err = psql(db, "SELECT atlas_migrate_apply('dev')->>'Status'")
    report(rc == 0 and out == 'succeeded' and untouched(db),
           'security: apply, empty history (clean check, revisions table created): nothing hostile runs', (out, err, canary(db)))
    report(val(db, 'SELECT p FROM public.h_path') == 'public, pg_catalog',
           'security: the migrations themselves keep the caller\'s search_path', val(db, 'SELECT p FROM public.h_path'))
    rc, out, err = psql(db, "SELECT atlas_migrate_apply('dev2')->>'Status'")
    report(rc == 0 and out == 'succeeded' and untouched(db),
           'security: apply with history (revisions read and written): nothing hostile runs', (out, err, canary(db)))
    rc, out, err = psql(db, "SELECT atlas_migrate_apply('base')->'Applied'->0->>'Version'")
    report(rc == 0 and out == '2' and untouched(db), 'security: baseline: nothing hostile runs', (out, err, canary(db)))
    rc, out, err = psql(db, "SELECT atlas_migrate_apply('res', allow_dirty => true)")
    psql(db, 'CREATE TABLE public.r_needed (i int)')
    rc2, out2, err2 = psql(db, "SELECT atlas_migrate_apply('res', allow_dirty => true)->>'Status'")
    rev = val(db, "SELECT applied || '/' || total FROM rev_res.atlas_schema_revisions WHERE version OPERATOR(pg_catalog.=) '1'")
    report(rc != 0 and rc2 == 0 and out2 == 'succeeded' and rev == '2/2' and untouched(db),
           'security: resume of a partly applied file: nothing hostile runs', (rc, out2, err2[-500:], rev, canary(db)))
    if cloud:
        rc, out, err = psql(db, "SELECT atlas_migrate_apply('cloud', allow_dirty => true)->>'Status'")
        report(rc == 0 and out == 'succeeded' and untouched(db),
               'security: Cloud run (identifier row, deployment report): nothing hostile runs', (out, err, canary(db)))
        cloud.control('500', scope='reportMigration')
        rc, out, err = psql(db, "SELECT atlas_migrate_apply('cloud', allow_dirty => true)->>'Status'")
        cloud.control('ok')
        kept = val(db, 'SELECT count(*) FROM public.atlas_migrate_runs WHERE cloud_report IS NOT NULL')
        report(rc == 0 and kept == '1' and untouched(db),
               'security: Cloud run whose report is kept: nothing hostile runs', (out, err, kept, canary(db)))
    else:
        print('SKIP security: Cloud runs: the stand-in did not start (reported above)')

    # pg_cron-style: the same from a multi-statement string
    rc, out, err = psql(db, "SET lock_timeout = '5s'; SELECT atlas_migrate_apply('dev2')->>'Status'")
    report(rc == 0 and out == 'nothing_to_do' and untouched(db),
           'security: a pg_cron-style command string: nothing hostile runs', (out, err, canary(db)))

    # inside the caller's transaction block (a rehearsal): the adapter's own
    # statements in the caller's backend, the revisions table created there
    rc, out, err = psql(db, 'BEGIN', "SELECT atlas_migrate_apply('rh', allow_dirty => true)->>'Status'",
                        'SELECT p FROM public.rh_path', "SELECT pg_catalog.current_setting('search_path')",
                        "SELECT pg_catalog.count(*) FROM rev_rh.atlas_schema_revisions", 'ROLLBACK')
    report(rc == 0 and out.split('\n') == ['succeeded', 'public, pg_catalog', 'public, pg_catalog', '1'] and untouched(db)
           and val(db, "SELECT to_regclass('rev_rh.atlas_schema_revisions') IS NULL") == 't',
           'security: a rehearsal inside BEGIN: nothing hostile runs, the migrations keep the caller\'s search_path', (out, err, canary(db)))

    # the caller's own schema ("$user" comes first in the default search_path)
    psql(db, 'CREATE SCHEMA postgres AUTHORIZATION sec_owner')
    psql(db, "SET search_path = postgres; CREATE FUNCTION postgres.now() RETURNS timestamptz LANGUAGE sql AS 'SELECT public.sec_hit(); SELECT pg_catalog.now()'; "
             "CREATE OPERATOR postgres.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.sec_tt); "
             "CREATE VIEW postgres.atlas_migrate_runs AS SELECT 1 AS id WHERE public.sec_hit()", user='sec_owner')
    rc, out, err = psql(db, 'SET search_path = "$user", public', "SELECT atlas_migrate_apply('dev2', dry_run => true)->>'Status'",
                        "SELECT count(*) FROM atlas_migrate_status('dev2')")
    report(rc == 0 and out.split('\n')[0] == 'nothing_to_do' and untouched(db),
           'security: hostile objects in the caller\'s "$user" schema: nothing hostile runs', (out, err, canary(db)))


def trojan(fix):
    """A revisions table planted for a superuser's apply."""
    db = 'sec_t'
    attacked_db(db)
    hcl = (env_block('dev', fix['h1'])
           + env_block('trig', fix['h1'], '    revisions_schema = "rv_trig"\n')
           + env_block('view', fix['h1'], '    revisions_schema = "rv_view"\n')
           + env_block('rls', fix['h1'], '    revisions_schema = "rv_rls"\n')
           + env_block('rule', fix['h1'], '    revisions_schema = "rv_rule"\n'))
    psql(db, 'SELECT atlas_config_set(%s)' % dq(hcl))
    rc, _, err = psql(db, 'CREATE SCHEMA atlas_schema_revisions',
                      'CREATE TABLE atlas_schema_revisions.atlas_schema_revisions (version varchar PRIMARY KEY, description varchar NOT NULL, '
                      'type bigint NOT NULL DEFAULT 2, applied bigint NOT NULL DEFAULT 0, total bigint NOT NULL DEFAULT 0, '
                      'executed_at timestamptz NOT NULL, execution_time bigint NOT NULL, error text, error_stmt text, '
                      'hash varchar NOT NULL, partial_hashes jsonb, operator_version varchar NOT NULL)',
                      'CREATE FUNCTION atlas_schema_revisions.trg() RETURNS trigger LANGUAGE plpgsql AS '
                      '$f$ BEGIN PERFORM public.sec_hit(); RETURN NEW; END $f$',
                      'CREATE TRIGGER t BEFORE INSERT OR UPDATE ON atlas_schema_revisions.atlas_schema_revisions '
                      'FOR EACH ROW EXECUTE FUNCTION atlas_schema_revisions.trg()', user='sec_owner')
    rc, out, err = psql(db, "SELECT atlas_migrate_apply('dev', allow_dirty => true)")
    want = 'refusing to use revisions table atlas_schema_revisions.atlas_schema_revisions owned by role "sec_owner": ' \
           'its owner is neither the role applying migrations nor a superuser'
    report(rc != 0 and sqlstate(err) == '42501' and errline(err) == want and untouched(db)
           and val(db, 'SELECT to_regclass(\'public.h_a\') IS NULL') == 't',
           'security: a revisions table planted by the database owner is refused before anything runs', (err, canary(db)))
    rc, out, err = psql(db, "SELECT * FROM atlas_migrate_status('dev')")
    report(rc != 0 and errline(err) == want and untouched(db), 'security: ... and status refuses to read it', err)
    run = val(db, "SELECT status || ': ' || error FROM public.atlas_migrate_runs ORDER BY id DESC LIMIT 1")
    report(run == 'failed: ' + want, 'security: ... the run row says why', run)

    # superuser-owned, but with a trigger / a view / row security / a rule
    psql(db, 'CREATE SCHEMA rv_trig', 'CREATE TABLE rv_trig.atlas_schema_revisions (LIKE atlas_schema_revisions.atlas_schema_revisions INCLUDING ALL)',
         'CREATE FUNCTION rv_trig.trg() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RETURN NEW; END $f$',
         'CREATE TRIGGER audit AFTER INSERT ON rv_trig.atlas_schema_revisions FOR EACH ROW EXECUTE FUNCTION rv_trig.trg()',
         'CREATE SCHEMA rv_view', 'CREATE VIEW rv_view.atlas_schema_revisions AS SELECT * FROM rv_trig.atlas_schema_revisions',
         'CREATE SCHEMA rv_rls', 'CREATE TABLE rv_rls.atlas_schema_revisions (LIKE atlas_schema_revisions.atlas_schema_revisions INCLUDING ALL)',
         'ALTER TABLE rv_rls.atlas_schema_revisions ENABLE ROW LEVEL SECURITY',
         'CREATE SCHEMA rv_rule', 'CREATE TABLE rv_rule.atlas_schema_revisions (LIKE atlas_schema_revisions.atlas_schema_revisions INCLUDING ALL)',
         'CREATE RULE r AS ON INSERT TO rv_rule.atlas_schema_revisions DO ALSO NOTIFY x')
    for env, sch, why, code in (('trig', 'rv_trig', 'it has a trigger ("audit")', '55000'),
                                ('view', 'rv_view', 'it is not a plain table', '42809'),
                                ('rls', 'rv_rls', 'it has row level security enabled', '55000'),
                                ('rule', 'rv_rule', 'it has rules', '55000')):
        rc, out, err = psql(db, "SELECT atlas_migrate_apply('%s', allow_dirty => true)" % env)
        want = 'refusing to use revisions table %s.atlas_schema_revisions owned by role "postgres": %s' % (sch, why)
        report(rc != 0 and sqlstate(err) == code and errline(err) == want,
               'security: a revisions table where %s is refused (%s)' % (why, code), err)


def granted(fix):
    """What a role granted EXECUTE (no superuser, no pg_read_server_files) tries."""
    db = 'sec_g'
    attacked_db(db)
    psql(db, 'SELECT atlas_config_set(%s)' % dq(env_block('dev', fix['h1']) + env_block('mig', fix['mig'], '    revisions_schema = "rev_mig"\n')))
    for name, hcl in (('a directory URL', 'env "x" {\n  migration {\n    dir = "nope://${getenv("ATLAS_TOKEN")}"\n  }\n}\n'),
                      ('a schema name', 'env "x" {\n  migration {\n    dir = "file://m"\n    revisions_schema = getenv("ATLAS_TOKEN")\n  }\n}\n'),
                      ('a variable default', 'variable "t" {\n  type = string\n  default = getenv("PATH")\n}\nenv "x" {\n  url = var.t\n}\n')):
        rc, _, err = psql(db, 'SELECT atlas_config_set(%s)' % dq(hcl), user='sec_granted')
        report(rc != 0 and sqlstate(err) == '42501' and errline(err) == 'permission denied to store an atlas.hcl that calls getenv()'
               and TOKEN not in err, 'security: getenv() through %s: atlas_config_set refuses it (42501)' % name, err)
    # a config whose author lost the privilege (or a 0.1.0 row): denied when evaluated
    psql(db, 'SELECT atlas_config_set(%s)' % dq('env "x" {\n  migration {\n    dir = "nope://${getenv("ATLAS_TOKEN")}"\n  }\n}\n'))
    psql(db, "UPDATE public.atlas_migrate_config SET updated_by = 'sec_granted'", pin=True)
    want = '3:21: function "getenv" is not allowed: reading the database server\'s environment is denied for this configuration'
    rc, _, err = psql(db, "SELECT atlas_migrate_apply('x')", user='sec_granted')
    report(rc != 0 and sqlstate(err) == '42501' and errline(err) == want and 'updated_by' in err and TOKEN not in err,
           'security: getenv() in a config stored by an unprivileged role: apply denies it (42501)', err)
    rc, _, err = psql(db, "SELECT * FROM atlas_migrate_status('x')", user='sec_granted')
    report(rc != 0 and errline(err) == want and TOKEN not in err, 'security: ... and status denies it', err)
    rc, _, err = psql(db, "SELECT atlas_migrate_apply('x')")
    report(rc != 0 and errline(err) == want and TOKEN not in err,
           'security: ... even when a superuser applies it', err)
    # stored by a superuser: getenv() works for a granted caller (the token stays server-side)
    psql(db, 'SELECT atlas_config_set(%s)' % dq('variable "d" {\n  type = string\n  default = lower(getenv("SEC_UNSET_VARIABLE"))\n}\n'
                                              + env_block('dev', fix['h1']) + env_block('mig', fix['mig'], '    revisions_schema = "rev_mig"\n')
                                              + 'env "c" {\n  migration {\n    dir = "file://${var.d}"\n  }\n}\n'))
    rc, _, err = psql(db, "SELECT atlas_migrate_apply('c')", user='sec_granted')
    report(rc != 0 and 'permission denied to read migration directory' in err,
           'security: a superuser\'s getenv() config evaluates for a granted role (then file:// is refused)', err)

    # file exfiltration
    rc, _, err = psql(db, 'SELECT atlas_config_set(%s)' % dq('env "f" {\n  migration {\n    dir = "file:///etc"\n  }\n}\n'), user='sec_granted')
    rc2, _, err2 = psql(db, "SELECT atlas_migrate_apply('f')", user='sec_granted')
    report(rc == 0 and rc2 != 0 and sqlstate(err2) == '42501' and errline(err2) == 'permission denied to read migration directory "file:///etc"',
           'security: file:// without pg_read_server_files is refused (42501)', err + err2)
    rc, _, err = psql(db, 'SELECT atlas_config_set(%s)' % dq('env "f" {\n  migration {\n    dir = file("/etc/passwd")\n  }\n}\n'), user='sec_granted')
    report(rc != 0 and 'function "file" is not supported' in err and 'root:' not in err,
           'security: file() in atlas.hcl is refused', err)
    rc, _, err = psql(db, 'SELECT hcl FROM atlas_migrate_config', user='sec_granted')
    report(rc != 0 and sqlstate(err) == '42501', 'security: atlas_migrate_config is not readable by a granted role', err)

    # runs: a granted role reads its own, and only its own
    psql('postgres', 'GRANT pg_read_server_files TO sec_mig')
    psql(db, 'SELECT atlas_config_set(%s)' % dq(env_block('dev', fix['h1']) + env_block('mig', fix['mig'], '    revisions_schema = "rev_mig"\n')))
    psql(db, "SELECT atlas_migrate_apply('dev', dry_run => true)")
    psql(db, "UPDATE public.atlas_migrate_runs SET cloud_report = 'secret report body' WHERE run_by = 'postgres'", pin=True)
    rc, out, err = psql(db, "SELECT atlas_migrate_apply('dev', dry_run => true, wait => false)->>'RunID'", user='sec_mig', verbose=False)
    m = re.search(r'HINT:  Follow it with: (SELECT status, error, log FROM atlas_migrate_runs WHERE id = \d+;)', err)
    rc2, out2, err2 = psql(db, m.group(1) if m else 'SELECT 1', user='sec_mig')
    report(rc == 0 and m and rc2 == 0 and out2.startswith(('running|', 'failed|', 'succeeded|')),
           'security: the follow-up query of the NOTICE works for a granted role (not the owner)', (err, out2, err2))
    rc, out, err = psql(db, "SELECT count(*) FILTER (WHERE run_by = 'sec_mig') || '/' || count(*) FROM public.atlas_migrate_runs",
                        "SELECT count(*) FROM public.atlas_migrate_runs WHERE cloud_report IS NOT NULL", user='sec_mig', pin=True)
    total = val(db, 'SELECT count(*) FROM public.atlas_migrate_runs')
    report(rc == 0 and out.split('\n') == ['1/1', '0'] and int(total) > 1,
           'security: a granted role reads only its own runs (not others\' errors, logs or Cloud report bodies)', (out, err, total))
    rc, _, err = psql(db, "UPDATE public.atlas_migrate_runs SET status = 'succeeded'", user='sec_mig', pin=True)
    rc2, _, err2 = psql(db, 'DELETE FROM public.atlas_migrate_runs', user='sec_mig', pin=True)
    report(rc != 0 and sqlstate(err) == '42501' and rc2 != 0 and sqlstate(err2) == '42501',
           'security: a granted role cannot change or delete runs', err + err2)

    # migrations run as the caller, and cannot leave it
    psql(db, 'GRANT CREATE ON DATABASE %s TO sec_mig' % db, 'CREATE SCHEMA rev_mig AUTHORIZATION sec_mig',
         'CREATE SCHEMA mig AUTHORIZATION sec_mig')
    rc, out, err = psql(db, "SELECT atlas_migrate_apply('mig', allow_dirty => true)->>'Status'", user='sec_mig')
    who = val(db, "SELECT string_agg(s || ',' || u, ';') FROM mig.who")
    report(rc == 0 and out == 'succeeded' and who == 'off,sec_mig',
           'security: a non-superuser\'s migrations see is_superuser off and run as that role', (out, err, who))
    for i, (what, stmt, msg) in enumerate((
            ('SET ROLE', 'SET ROLE postgres', 'permission denied to set role "postgres"'),
            ('SET SESSION AUTHORIZATION', 'SET SESSION AUTHORIZATION postgres', 'permission denied to set session authorization'),
            ('COPY TO PROGRAM', "COPY (SELECT 1) TO PROGRAM 'touch /tmp/sec_pwned'",
             'must be superuser or have privileges of the pg_execute_server_program role to COPY to or from an external program'),
            ('ALTER SYSTEM', "-- atlas:txmode none\n\nALTER SYSTEM SET work_mem = '1MB'", 'permission denied to set parameter "work_mem"'))):
        rc, _, err = attack_migration(db, fix, 'sec_mig', stmt, i)
        report(rc != 0 and msg in errline(err), 'security: %s in a migration fails as for the role itself' % what, err)
    report(not os.path.exists('/tmp/sec_pwned'), 'security: COPY TO PROGRAM did not run')

    # superuser session, SET ROLE / SET SESSION AUTHORIZATION to sec_mig
    for k, how in ((1, 'SET ROLE sec_mig'), (2, 'SET SESSION AUTHORIZATION sec_mig')):
        psql(db, 'DROP SCHEMA IF EXISTS rev_id%d CASCADE' % k, 'CREATE SCHEMA rev_id%d AUTHORIZATION sec_mig' % k,
             'DROP TABLE IF EXISTS mig.who')
        psql(db, 'SELECT atlas_config_set(%s)' % dq(env_block('id%d' % k, fix['mig'], '    revisions_schema = "rev_id%d"\n' % k)))
        rc, out, err = psql(db, how, "SELECT atlas_migrate_apply('id%d', allow_dirty => true)->>'Status'" % k)
        who = val(db, "SELECT string_agg(s || ',' || u, ';') FROM mig.who")
        report(rc == 0 and who == 'off,sec_mig',
               'security: superuser session with %s: migrations see is_superuser off' % how, (out, err, who))


def attack_migration(db, fix, user, stmt, i):
    d = os.path.join(fix['root'], 'atk%d' % i)
    write_dir(d, {'1_x.sql': stmt + ';\n'})
    psql(db, 'SELECT atlas_config_set(%s)' % dq(env_block('atk', d, '    revisions_schema = "rev_mig"\n')))
    psql(db, "DELETE FROM rev_mig.atlas_schema_revisions WHERE version = '1'", pin=True)
    return psql(db, "SELECT atlas_migrate_apply('atk', allow_dirty => true)", user=user)


def injection(fix):
    """SQL injection through env names, revisions_schema and URL parameters."""
    db = 'sec_i'
    attacked_db(db)
    evil = "x\"; SELECT public.sec_hit(); --"
    hcl = (env_block('dev', fix['h1'], '    revisions_schema = "%s"\n' % evil.replace('"', '\\"'))
           + 'env "u" {\n  url = "postgres://h/db?search_path=u%%27%%20OR%%20public.sec_hit()%%20--"\n'
             '  migration {\n    dir = "file://%s"\n  }\n}\n' % fix['h1'])
    rc, _, err = psql(db, 'SELECT atlas_config_set(%s)' % dq(hcl))
    rc, out, err = psql(db, "SELECT atlas_migrate_apply($$dev'); SELECT public.sec_hit(); --$$)")
    report(rc != 0 and sqlstate(err) == '42704' and untouched(db), 'security: an env name is data, not SQL', (err, canary(db)))
    rc, out, err = psql(db, "SELECT atlas_migrate_apply('dev', allow_dirty => true)->>'Status'")
    sch = val(db, 'SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) %s' % lit(evil))
    report(rc == 0 and sch == '1' and untouched(db),
           'security: revisions_schema is an identifier (a schema of that exact name), not SQL', (out, err, sch, canary(db)))
    rc, out, err = psql(db, "SELECT atlas_migrate_apply('u', dry_run => true)")
    report(untouched(db), 'security: a URL search_path parameter is data, not SQL', (rc, err, canary(db)))


def split_memory():
    """atlas_split, executable by PUBLIC: bounded memory, cancellable."""
    n = 20 * 1000 * 1000
    script = ('SELECT pg_backend_pid() AS pid \\gset\n\\setenv PID :pid\n'
              "SELECT count(*) FROM atlas_split('a;');\n\\! grep VmHWM /proc/$PID/status\n"
              "SELECT count(*) FROM atlas_split(repeat('a;', %d));\n\\! grep VmHWM /proc/$PID/status\n" % (n // 2))
    p = subprocess.run(['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', 'sec_g', '-U', 'sec_owner'],
                       input=script, capture_output=True, text=True)
    rc, out, err = p.returncode, p.stdout, p.stderr
    kb = [int(x) for x in re.findall(r'VmHWM:\s+(\d+) kB', out)]
    ok = rc == 0 and len(kb) == 2 and str(n // 2) in out and (kb[1] - kb[0]) * 1024 < 3 * n
    report(ok, 'security: atlas_split of %d MB (%d statements) by a plain role grows the backend by %s MB (< 3x)'
           % (n // 1000000, n // 2, (kb[1] - kb[0]) // 1024 if len(kb) == 2 else '?'), (out, err))
    # Cancelled mid-way, not at the end: the 25M-statement split must stop
    # well before a full split of it would finish (10x a tenth of it, timed
    # on the same machine now), whatever the machine's load.
    rc0, out0, err0 = psql('sec_g', "CREATE TABLE big_split AS SELECT repeat('a;', 25000000) AS s", user='sec_owner')
    t0 = time.time()
    psql('sec_g', "SELECT count(*) FROM atlas_split(repeat('a;', 2500000))", user='sec_owner')
    tenth = time.time() - t0
    t0 = time.time()
    rc, out, err = psql('sec_g', "SET statement_timeout = '300ms'",
                        "SELECT count(*) FROM atlas_split((SELECT s FROM big_split))", user='sec_owner')
    el = time.time() - t0
    report(rc0 == 0 and rc != 0 and sqlstate(err) == '57014' and el < 5 * tenth,
           'security: atlas_split is cancellable (statement_timeout 300ms: stopped after %.2f s; '
           'a full split would take about %.1f s)' % (el, 10 * tenth), (err0, err))


def main():
    if not TOKEN.startswith('atl-'):
        print('SKIP security: the cluster was not started with ATLAS_TOKEN')
        return
    tmp = tempfile.mkdtemp(prefix='atlas_sec.', dir='/tmp')
    os.chmod(tmp, 0o755)
    fix = {'root': tmp}
    for name, files in (
            ('h1', {'1_a.sql': "CREATE TABLE public.h_a (id int);\nCREATE TABLE public.h_path AS SELECT pg_catalog.current_setting('search_path') AS p;\n"}),
            ('h2', {'1_a.sql': "CREATE TABLE public.h_a (id int);\nCREATE TABLE public.h_path AS SELECT pg_catalog.current_setting('search_path') AS p;\n",
                    '2_b.sql': 'CREATE TABLE public.h_b (id int);\n'}),
            ('rh', {'1_a.sql': "CREATE TABLE public.rh_a (id int);\nCREATE TABLE public.rh_path AS SELECT pg_catalog.current_setting('search_path') AS p;\n"}),
            ('bs', {'1_a.sql': 'CREATE TABLE public.b_a (id int);\n', '2_b.sql': 'CREATE TABLE public.b_b (id int);\n'}),
            ('res', {'1_r.sql': '-- atlas:txmode none\n\nCREATE TABLE public.r1 (id int);\nINSERT INTO public.r_needed VALUES (1);\n'}),
            ('mig', {'1_who.sql': "CREATE TABLE mig.who AS SELECT pg_catalog.current_setting('is_superuser') AS s, current_user::text AS u;\n"})):
        write_dir(os.path.join(tmp, name), files)
        fix[name] = os.path.join(tmp, name)
    dirs = os.path.join(tmp, 'dirs')
    write_dir(os.path.join(dirs, 'app'), {'20240101000001_c.sql': 'CREATE TABLE public.c1 (id int);\n'})
    cloud = StandIn(dirs, TOKEN, workdir=tmp, name='sec')
    try:
        cloud.start()
    except Exception as e:  # noqa: BLE001
        report(False, 'security: the stand-in Cloud starts', e)
        cloud = None
    logfile = os.path.join(os.environ.get('PGHOST', ''), 'server.log')
    log_start = os.path.getsize(logfile) if os.path.exists(logfile) else 0
    psql('postgres', "ALTER SYSTEM SET log_statement = 'all'", 'SELECT pg_reload_conf()')
    for r in ('sec_owner', 'sec_granted', 'sec_mig'):
        psql('postgres', 'CREATE ROLE %s LOGIN' % r)
    try:
        hijack(fix, cloud)
        trojan(fix)
        granted(fix)
        injection(fix)
        split_memory()
        report(val('postgres', "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'sec_owner'") == 'f',
               'security: after every attack the database owner is still not a superuser')

        # the token: in no NOTICE, error, run row, status, report, server log
        runs = ''.join(val(d, 'SELECT pg_catalog.string_agg(t::text, chr(10)) FROM public.atlas_migrate_runs t')
                       for d in ('sec_h', 'sec_t', 'sec_g', 'sec_i'))
        log = ''
        if os.path.exists(logfile):
            with open(logfile, errors='replace') as f:
                f.seek(log_start)
                log = f.read()
        where = [w for w, text in (('psql output', ''.join(SEEN)), ('atlas_migrate_runs', runs), ('server log', log))
                 if TOKEN in text]
        report(not where and 'atlas_config_set' in log,
               'security: the token appears in no notice, error, run row, status or server log (log_statement = all)', where)
    finally:
        psql('postgres', 'ALTER SYSTEM RESET log_statement', 'SELECT pg_reload_conf()')
        if cloud:
            cloud.stop()
        subprocess.run(['rm', '-rf', tmp])


if __name__ == '__main__':
    main()
