variable "cloud_token" {
  type = string
  default = getenv("ATLAS_TOKEN")
}
atlas { cloud { token = var.cloud_token } }
env {
  name = atlas.env
  url = getenv("DATABASE_URL")
  migration { dir = "atlas://app" }
}
