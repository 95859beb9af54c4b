# Inputs of the root module. Every variable is validated here so that a typo fails at `terraform plan`
# with a message naming the problem, instead of as a VM that never joins the cluster.

variable "k3s_version" {
  description = <<-EOT
    K3s release installed on every node (INSTALL_K3S_VERSION), e.g. "v1.35.8+k3s1". This default is the
    one home of the cluster's Kubernetes version: the manifest checks derive the Kubernetes minor from it.
  EOT
  type        = string
  default     = "v1.35.8+k3s1"

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+\\+k3s[0-9]+$", var.k3s_version))
    error_message = "k3s_version must be an exact K3s release tag such as \"v1.35.8+k3s1\" (no channel names like \"stable\" or \"latest\"), so every node runs the same version."
  }
}
