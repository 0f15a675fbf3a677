# The seed's atlas.hcl: the token comes from the environment of the process
# that runs the database; only cloud { url } points at the local stand-in
# (make demo replaces STANDIN_URL).
variable "cloud_token" {
  type    = string
  default = getenv("ATLAS_TOKEN")
}

atlas {
  cloud {
    token = var.cloud_token
    url   = "STANDIN_URL"
  }
}

env {
  name = atlas.env
  url  = getenv("DATABASE_URL")
  migration {
    dir = "atlas://app"
  }
}
