variable "cloud_token" {
  type    = string
  default = getenv("ATLAS_TOKEN")
}
atlas {
  cloud {
    token   = var.cloud_token
    url     = "https://api.atlasgo.cloud/query"
    project = "example"
  }
}
env "prod" {
  url = "postgres://..."
  migration {
    dir              = "atlas://myapp?tag=v1"
    revisions_schema = "atlas_schema_revisions"
    baseline         = "20220811074144"
    exec_order       = LINEAR_SKIP
    lock_timeout     = "30s"
    format           = atlas
  }
  format {
    migrate {
      apply = "{{ json . }}"
    }
  }
}
env {
  name = atlas.env
  url  = getenv("DATABASE_URL")
  migration { dir = "atlas://myapp" }
}
