-- Configuration you can inspect (issue 13): atlas_config_set refuses, with
-- line and column, what apply would refuse for every call; values known
-- only when called are left to the call; atlas_config_get() returns the
-- stored atlas.hcl with its secrets redacted, to granted roles only.
\set VERBOSITY default
SELECT atlas_config_set($$
env "prod" {
  migration {
    dir = "file://atlas_fixtures/five"
  }
}
$$);

-- wrong types, bad durations, unknown tx_mode and exec_order values
SELECT atlas_config_set($$
env "prod" {
  migration {
    lock_timeout = "30 seconds"
  }
}
$$);
SELECT atlas_config_set($$
env "prod" {
  migration {
    lock_timeout = "1000h"
  }
}
$$);
SELECT atlas_config_set($$
atlas {
  cloud {
    token   = getenv("ATLAS_TOKEN")
    timeout = "1 minute"
  }
}
$$);
SELECT atlas_config_set($$
env "prod" {
  migration {
    tx_mode = "files"
  }
}
$$);
SELECT atlas_config_set($$
env "prod" {
  migration {
    exec_order = LINEAR_SKIPP
  }
}
$$);
SELECT atlas_config_set($$
env "prod" {
  migration {
    exec_order = "random"
  }
}
$$);
SELECT atlas_config_set($$
env "prod" {
  url = ["postgres://db"]
}
$$);
SELECT atlas_config_set($$
env "prod" {
  migration {
    dir = "ftp://example.com/dir"
  }
}
$$);
-- every env is checked, and a default is checked where it is used
SELECT atlas_config_set($$
variable "lt" {
  type    = string
  default = "10 s"
}
env "a" {
}
env "b" {
  migration {
    lock_timeout = var.lt
  }
}
$$);
SELECT atlas_config_set($$
variable "n" {
  type    = number
  default = "ten"
}
$$);
-- unsupported blocks and functions
SELECT atlas_config_set($$
env {
  for_each = toset(["a", "b"])
  name     = atlas.env
  url      = "postgres://localhost/db?search_path=${each.value}"
}
$$);
SELECT atlas_config_set($$
data "remote_dir" "migrations" {
  name = "app"
}
env "prod" {
  migration {
    dir = data.remote_dir.migrations.url
  }
}
$$);
SELECT atlas_config_set($$
locals {
  dir = jsonencode({ path = "x" })
}
env "prod" {
  migration {
    dir = local.dir
  }
}
$$);
SELECT atlas_config_set($$
env "prod" {
  url = getenvv("DATABASE_URL")
}
$$);
-- none of these replaced the stored config
SELECT atlas_config_get();

-- known only when called: a variable without a default, getenv(), the
-- name of an unlabelled env; Atlas's other attributes may use data sources
SELECT atlas_config_set($$
variable "lock" {
  type = string
}
variable "tenant" {
  type    = string
  default = "t15"
}
env "prod" {
  url = "postgres://localhost/db?search_path=${var.tenant}"
  src = data.external_schema.orm.url
  migration {
    dir          = "file://atlas_fixtures/five"
    lock_timeout = var.lock
    tx_mode      = lower(getenv("T15_TX_MODE"))
  }
}
env {
  name = atlas.env
  migration {
    dir        = "file://atlas_fixtures/${atlas.env}"
    exec_order = upper(atlas.env)
  }
}
data "external_schema" "orm" {
  program = ["go", "run", "./loader"]
}
$$);
-- the call's value is checked when the call gives it
SELECT atlas_migrate_apply('prod', vars => '{"lock": "soon"}');

-- atlas_config_get: secrets redacted, everything else as stored
SELECT atlas_config_set($$
# production deploys   (comments and layout are kept)
variable "db_pass" {
  type    = string
  default = "s3cr3t-pass"
}
atlas {
  cloud {
    token = "aci_t15_literal_token"      # the Atlas Cloud token
    # token = "aci_t15_old_token"
  }
}
env "prod" {
  url = "postgres://app:${var.db_pass}@db:5432/app?search_path=t15"
  dev = "postgres://root:devpass@localhost:5432/dev"   # or postgres://u:commented@h
  migration {
    dir = "file://atlas_fixtures/five"
  }
}
$$);
SELECT atlas_config_get();
-- the stored text is unchanged, and no secret is in what is shown
SELECT hcl LIKE '%aci_t15_literal_token%' AS stored_has_token FROM atlas_migrate_config;
SELECT s AS secret, strpos(atlas_config_get(), s) AS shown_at
FROM unnest(ARRAY['aci_t15_literal_token', 'aci_t15_old_token', 's3cr3t-pass', 'devpass', 'commented']) s;

-- who may call it: the roles granted EXECUTE, like atlas_config_set
CREATE ROLE regress_t15_reader;
CREATE ROLE regress_t15_other;
GRANT EXECUTE ON FUNCTION atlas_config_get() TO regress_t15_reader;
SET ROLE regress_t15_other;
SELECT atlas_config_get();
SET ROLE regress_t15_reader;
SELECT strpos(atlas_config_get(), 'aci_t15') AS token_at, strpos(atlas_config_get(), '<redacted>') > 0 AS redacted;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION atlas_config_get() FROM regress_t15_reader;
DROP ROLE regress_t15_reader;
DROP ROLE regress_t15_other;
