-- atlas_split: the statements exactly as the executor splits them.
SELECT * FROM atlas_split($$CREATE TABLE a (x int); CREATE TABLE b (y int);$$);
SELECT * FROM atlas_split($$CREATE FUNCTION f() RETURNS int AS $f$ SELECT 1; $f$ LANGUAGE sql;
INSERT INTO a VALUES (1);$$, 'postgres');
SELECT * FROM atlas_split(E'-- atlas:delimiter \\\\\n\nCREATE TABLE a (x int);\nSELECT 1;\n\\\\\nSELECT 2\n\\\\\n');
SELECT * FROM atlas_split('CREATE TABLE a (x int); -- trailing comment');
SELECT count(*) FROM atlas_split('');
SELECT * FROM atlas_split('SELECT ''a;b''; SELECT "x;y" FROM t;', 'MatchBegin, MatchDollarQuote');
-- errors: Atlas's L:C: messages, unknown options
SELECT * FROM atlas_split('SELECT ''unclosed');
SELECT * FROM atlas_split(E'SELECT 1;\n(unclosed');
SELECT * FROM atlas_split('SELECT 1;', 'oracle');
-- STRICT: NULL in, nothing out
SELECT count(*) FROM atlas_split(NULL);
-- immutable and parallel safe
SELECT provolatile, proparallel, proisstrict FROM pg_proc WHERE proname = 'atlas_split';
