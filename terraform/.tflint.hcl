# tflint for the root module and its local modules; `make check-terraform` runs it offline:
#   tflint --chdir=terraform --recursive --config="$PWD/terraform/.tflint.hcl"
# with tflint built from source (tools/go/tflint). terraform-linters publishes no OpenStack ruleset (only
# AWS, AzureRM and Google), so the Terraform language ruleset is the one plugin: the one bundled in tflint
# (no source/version here, hence no `tflint --init` download), whose version tools/go/tflint/go.mod pins
# through tflint's own (tflint-ruleset-terraform). OpenStack specifics are covered by `terraform validate`.
tflint {
  required_version = ">= 0.50"
}

config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
