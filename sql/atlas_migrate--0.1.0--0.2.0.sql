/* atlas_migrate 0.1.0 -> 0.2.0 */

\echo Use "ALTER EXTENSION atlas_migrate UPDATE TO '0.2.0'" to load this file. \quit

