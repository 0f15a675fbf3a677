env "prod" {
  url = <<-EOS
    postgres://${"h"}/db
      $${literal} %%{x}
    EOS
  migration {
    dir = <<EOT
file://x
EOT
    baseline = "${~ "  1 " ~}"
  }
}
