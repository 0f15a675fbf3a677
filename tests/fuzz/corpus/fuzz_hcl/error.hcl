env "x" {
  migration {
    dirr = "x"
  }
}
