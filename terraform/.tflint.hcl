# tflint for the root module and its local modules, run by CI after `terraform init -backend=false`:
#   cd terraform && tflint --init && tflint --recursive --config "$PWD/.tflint.hcl"
# terraform-linters publishes no OpenStack ruleset (only AWS, AzureRM and Google), so the Terraform
# language ruleset, pinned, is the one plugin; OpenStack specifics are covered by checkov and the tests.
tflint {
  required_version = ">= 0.50"
}

config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
  version = "0.15.0"
  source  = "github.com/terraform-linters/tflint-ruleset-terraform"
}
