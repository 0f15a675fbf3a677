#!/usr/bin/python3
"""Atlas Cloud through the PostgreSQL host, against the local stand-in
(tests/cloud/server.py, loopback only), on a running cluster
(PGHOST/PGPORT/PGUSER).  Prints PASS/FAIL/SKIP lines for tests/pg/run.sh.

atlas://app is fetched by the worker, applied, and the deployment reported
(deployment_url, DeploymentURL); a failed report is a WARNING, kept, and
sent by the next call; a hanging Cloud fetch stops on cancel;
the token appears in no notice, error, run row, report or server log.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'cloud'))
sys.path.insert(0, os.path.join(HERE, '..', 'sqlite'))
from standin import StandIn, write_dir  # noqa: E402
from tap import wait_for  # noqa: E402

DB = 'cloud_pg'
# the server was started with it: getenv("ATLAS_TOKEN") in atlas.hcl reads
# the postmaster's environment, so no query text ever holds the token
TOKEN = os.environ.get('ATLAS_TOKEN', '')
TOKEN_B = os.environ.get('ATLAS_TOKEN_B', '')   # another token, also in the server's environment
SEEN = []


def report(ok, name, why=''):
    print(('PASS %s' % name) if ok else ('FAIL %s: %s' % (name, str(why).replace('\n', ' | ')[:600])))
    sys.stdout.flush()


def psql(*cmds, db=DB):
    args = ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', db]
    for c in cmds:
        args += ['-c', c]
    p = subprocess.run(args, capture_output=True, text=True)
    SEEN.append(p.stdout + p.stderr)
    return p.returncode, p.stdout, p.stderr


def lit(s):
    return "'" + s.replace("'", "''") + "'"


HCL = """
variable "cloud_token" {
  type    = string
  default = getenv("ATLAS_TOKEN")
}
atlas {
  cloud {
    token = var.cloud_token
    url   = "%s"
  }
}
env "prod" {
  url = "postgres://localhost/cloud_pg?search_path=app"
  migration {
    dir = "atlas://app"
  }
}
"""


def apply():
    return psql('SET search_path = app, public', "SELECT atlas_migrate_apply('prod')")


DB_TARGET = 'cloud_pg_target'
TARGET_HCL = """
atlas {
  cloud {
    token = getenv("%s")
    url   = "%s"
  }
}
env "prod" {
  migration {
    dir = "atlas://app"
  }
}
"""


def kept_report_targets(cloud, other):
    """Kept for endpoint A with token A (the report failed with 500): a call
    to endpoint B, or with token B, sends only its own report; the next call
    with A and A sends it.  No column holds a token."""
    other.start()
    psql('CREATE DATABASE %s' % DB_TARGET, db='postgres')
    psql('CREATE EXTENSION atlas_migrate', db=DB_TARGET)

    def call(token_var, url):
        psql('SELECT atlas_config_set(%s)' % lit(TARGET_HCL % (token_var, url)), db=DB_TARGET)
        rc, out, err = psql("SELECT atlas_migrate_apply('prod')->>'Status'", db=DB_TARGET)
        return out.strip() if rc == 0 else err

    def kept():
        return psql('SELECT string_agg(id::text, \',\' ORDER BY id) FROM atlas_migrate_runs '
                    'WHERE cloud_report IS NOT NULL', db=DB_TARGET)[1].strip()

    def sent(server):
        return [(r['status'], r['key']) for r in server.requests('reportMigration')]

    cloud.control('500', scope='reportMigration')
    st1 = call('ATLAS_TOKEN', cloud.url)
    k1 = kept()
    cloud.control('ok')
    st2 = call('ATLAS_TOKEN_B', cloud.url)
    s2, k2 = sent(cloud), kept()
    cloud.control('ok')
    st3 = call('ATLAS_TOKEN', other.url)
    s3, a3, k3 = sent(other), cloud.requests(), kept()
    st4 = call('ATLAS_TOKEN', cloud.url)
    s4, k4 = sent(cloud), kept()
    got = [(st1, k1), (st2, s2, k2), (st3, s3, a3, k3), (st4, s4, k4)]
    want = [('succeeded', '1'), ('nothing_to_do', [(200, 2)], '1'), ('nothing_to_do', [(200, 1)], [], '1'),
            ('nothing_to_do', [(200, 1), (200, 1)], '')]
    report(got == want, 'cloud: a kept report is not sent to another endpoint or with another token, '
           'then is sent with its own', 'got %r want %r' % (got, want))
    _, t, _ = psql("SELECT string_agg(coalesce(cloud_target, 'NULL'), ' ' ORDER BY id) FROM atlas_migrate_runs", db=DB_TARGET)
    t = t.split()
    report(len(t) == 4 and all(x.startswith('sha256:') for x in t) and t[0] == t[3] and len(set(t[:3])) == 3,
           'cloud: cloud_target is a fingerprint, one per endpoint and token', t)
    SEEN.append(other.log_text())


def main():
    if not TOKEN.startswith('atl-'):
        print('SKIP cloud: the cluster was not started with ATLAS_TOKEN')
        return
    tmp = tempfile.mkdtemp(prefix='atlas_cloud_pg.', dir='/tmp')
    os.chmod(tmp, 0o755)
    dirs = os.path.join(tmp, 'dirs')
    write_dir(os.path.join(dirs, 'app'), {
        '20240101000001_users.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, name text);\n',
        '20240101000002_posts.sql': 'CREATE TABLE posts (id bigint PRIMARY KEY, title text);\n'
                                    "INSERT INTO posts VALUES (1, 'hello');\n",
    })
    cloud = StandIn(dirs, [TOKEN] + ([TOKEN_B] if TOKEN_B else []), workdir=tmp, name='pg')
    other = StandIn(dirs, TOKEN, workdir=tmp, name='pg-other')
    try:
        cloud.start()
    except Exception as e:  # noqa: BLE001
        report(False, 'cloud: the stand-in starts', e)
        return
    try:
        psql('CREATE DATABASE %s' % DB, db='postgres')
        psql('CREATE EXTENSION atlas_migrate', 'CREATE SCHEMA app',
             'SELECT atlas_config_set(%s)' % lit(HCL % cloud.url))

        rc, out, err = apply()
        rep = json.loads(out) if rc == 0 and out.strip() else {}
        report(rc == 0 and rep.get('Status') == 'succeeded' and len(rep.get('Applied', [])) == 2,
               'cloud: atlas://app is fetched and applied by the worker', err)
        _, row, _ = psql('SELECT deployment_url IS NOT NULL AND cloud_report IS NULL FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1')
        reps = cloud.reports()
        inp = reps[-1]['variables']['input'] if reps else {}
        report(rep.get('DeploymentURL') and row.strip() == 't' and inp.get('envName') == 'prod'
               and inp.get('dirName') == 'app' and inp.get('toVersion') == '20240101000002',
               'cloud: the deployment is reported and its URL kept in the run row', (rep, row, inp))
        _, ident, _ = psql("SELECT description FROM app.atlas_schema_revisions WHERE version = '.atlas_cloud_identifier'")
        report(len(ident.strip()) == 36 and inp.get('target', {}).get('id') == ident.strip(),
               'cloud: the identifier row holds the target id sent', (ident, inp.get('target')))
        _, st, _ = psql("SELECT count(*) FROM atlas_migrate_status('prod') WHERE version LIKE '.%'")
        report(st.strip() == '0', 'cloud: the identifier row is not a migration in status', st)

        # reporting fails: a WARNING, the body kept; the next call sends it
        cloud.control('500', scope='reportMigration')
        rc, out, err = apply()
        _, kept, _ = psql('SELECT cloud_report IS NOT NULL AND cloud_error IS NOT NULL FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1')
        report(rc == 0 and 'WARNING:  atlas cloud: reporting the deployment failed (kept for the next call)' in err
               and kept.strip() == 't', 'cloud: a failed report is a WARNING and is kept', err)
        cloud.control('ok')
        rc, out, err = apply()
        _, rows, _ = psql("SELECT count(*) FILTER (WHERE deployment_url IS NOT NULL), count(*) FILTER (WHERE cloud_report IS NOT NULL) FROM atlas_migrate_runs")
        report(rc == 0 and rows.strip() == '3|0', 'cloud: the next call sends the kept report too', rows + err)

        # inside BEGIN (a rehearsal) the report is only kept: never sent after
        # ROLLBACK; after COMMIT the next call sends it
        n0 = len(cloud.reports())
        rc1, out1, err1 = psql('BEGIN', "SELECT atlas_migrate_apply('prod')->>'Status'", 'ROLLBACK')
        rc2, out2, err2 = psql('BEGIN', "SELECT atlas_migrate_apply('prod')->>'Status'", 'COMMIT')
        _, kept, _ = psql("SELECT cloud_report IS NOT NULL AND deployment_url IS NULL "
                          "AND cloud_error = 'not sent yet: the run is inside the caller''s transaction' "
                          "FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1")
        n1 = len(cloud.reports())
        rc3, out3, err3 = apply()
        _, left, _ = psql('SELECT count(*) FROM atlas_migrate_runs WHERE cloud_report IS NOT NULL')
        n2 = len(cloud.reports())
        report(rc1 == 0 and rc2 == 0 and rc3 == 0 and kept.strip() == 't' and n1 == n0 and n2 == n1 + 2
               and left.strip() == '0',
               'cloud: inside BEGIN the report is only kept (none after ROLLBACK), the next call sends it after COMMIT',
               (out1, err1[-300:], out2, kept, n0, n1, n2, left, err3[-300:]))

        # a Cloud that never answers: cancel stops the fetch within about a second
        cloud.control('hang', scope='dirState')
        p = subprocess.Popen(['psql', '-X', '-q', '-At', '-d', DB, '-c', 'SET search_path = app, public',
                              '-c', "SELECT atlas_migrate_apply('prod')"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for('the worker\'s dirState request at the hanging stand-in', lambda: cloud.requests('dirState'))
            reached = True
        except AssertionError as e:
            reached = False
            why = str(e)
        t0 = time.time()
        psql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' "
             "AND query LIKE %s" % (lit(DB), lit('SELECT atlas_migrate_apply%')))
        out, err = p.communicate(timeout=30)
        SEEN.append(out + err)
        try:
            wait_for('the worker to exit', lambda: psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker'")[1].strip() == '0',
                timeout=5)
            gone = True
        except AssertionError as e:
            gone = False
            why = str(e)
        el = time.time() - t0
        if reached and gone:
            why = err
        report(reached and gone and 'canceling statement due to user request' in err,
               'cloud: cancel stops a hanging fetch: the caller ends, the worker exits within 5 s (%.2f s)' % el, why)
        cloud.control('ok')

        # a 200 without data.dirState is an error, not an empty directory (issue 8)
        cloud.control('empty_body', scope='dirState')
        rc, out, err = apply()
        SEEN.append(out + err)
        rc2, out2, err2 = psql("SELECT * FROM atlas_migrate_status('prod')")
        SEEN.append(out2 + err2)
        report(rc != 0 and 'decoding response: an empty reply, expected data.dirState.content' in err
               and rc2 != 0 and 'an empty reply' in err2,
               'cloud: an empty 200 reply fails apply and status', (err, err2))
        cloud.control('ok')

        # a kept report goes only to the endpoint and token it was made for
        if TOKEN_B.startswith('atl-'):
            kept_report_targets(cloud, other)
        else:
            print('SKIP cloud: a kept report goes only to its endpoint and token: ATLAS_TOKEN_B not in the server environment')

        # the token is nowhere
        _, runs, _ = psql('SELECT t::text FROM atlas_migrate_runs t')
        _, runs2, _ = psql('SELECT t::text FROM atlas_migrate_runs t', db=DB_TARGET)
        runs += runs2
        log = ''
        logfile = os.path.join(os.environ.get('PGHOST', ''), 'server.log')
        if os.path.exists(logfile):
            with open(logfile, errors='replace') as f:
                log = f.read()
        where = [w for w, text in (('psql output', ''.join(SEEN)), ('atlas_migrate_runs', runs),
                                   ('server log', log), ('stand-in log', cloud.log_text()))
                 if TOKEN in text or (TOKEN_B and TOKEN_B in text)]
        report(not where, 'cloud: the token appears in no notice, error, run row, report or log', where)
    finally:
        cloud.stop()
        other.stop()
        subprocess.run(['rm', '-rf', tmp])


if __name__ == '__main__':
    main()
