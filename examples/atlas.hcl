# atlas.hcl for the demo: the same file the Atlas CLI reads.
# file:// paths are relative to the process that runs the database:
# the sqlite3 shell's working directory, or PostgreSQL's data directory.

variable "migrations" {
  type    = string
  default = "examples/migrations"
}

env "local" {
  url = "sqlite://demo.db"
  migration {
    dir          = "file://${var.migrations}"
    lock_timeout = "10s"
  }
}
