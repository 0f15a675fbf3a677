data "sql" "t" {
  url = "x"
}
locals {
  u = data.sql.t.value
}
env "prod" {
  src = data.sql.t.values
  url = local.u
}
env "x" {
  dev = "docker://postgres/15"
  lint { latest = 1 }
}
docker "postgres" "dev" {
  image = "postgres:15"
}
