variable "v" {
  type = number
  default = 3
}
variable "l" {
  type = list(string)
  default = ["a", "b"]
}
variable "m" {
  type = map(string)
  default = { k = "v", "q" : 1 }
}
locals {
  host = lower("DB.Example")
  s    = format("app_%s_%d", join("_", var.l), var.v)
}
env "x" {
  url = urlqueryset("postgres://u@${local.host}/db?b=1", "search_path", local.s)
  migration {
    dir = "file://m/${var.m.k}"
    exec_order = var.v > 2 ? NON_LINEAR : "linear_skip"
    lock_timeout = "${var.v * 1.5}s"
    tx_mode = upper("all") == "ALL" ? "all" : "file"
  }
}
