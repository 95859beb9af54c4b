terraform {
  # 1.9 lets a variable's validation refer to other variables (the two tokens must differ).
  required_version = ">= 1.9.0, < 2.0.0"
  # No providers on purpose: this module is pure templating, so `terraform test` runs it offline.
}
