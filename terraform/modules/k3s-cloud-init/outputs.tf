output "server_cloud_config" {
  description = "The server's cloud-config as plain text (for tests and debugging; it holds both tokens)."
  value       = local.server_cloud_config
  sensitive   = true
}

output "agent_cloud_config" {
  description = "The agents' cloud-config as plain text (it holds the agent token)."
  value       = local.agent_cloud_config
  sensitive   = true
}

# gzip + base64 keeps the user data well under Nova's cap; cloud-init recognises gzip by itself and the
# OpenStack provider passes data that is already base64 through unchanged.
output "server_user_data" {
  description = "The server's user data, gzipped and base64-encoded."
  value       = base64gzip(local.server_cloud_config)
  sensitive   = true

  precondition {
    condition     = length(base64gzip(local.server_cloud_config)) <= var.user_data_limit_bytes
    error_message = "The server's user data is larger than ${var.user_data_limit_bytes} bytes; move content out of cloud-init."
  }
}

output "agent_user_data" {
  description = "The agents' user data, gzipped and base64-encoded."
  value       = base64gzip(local.agent_cloud_config)
  sensitive   = true

  precondition {
    condition     = length(base64gzip(local.agent_cloud_config)) <= var.user_data_limit_bytes
    error_message = "The agents' user data is larger than ${var.user_data_limit_bytes} bytes; move content out of cloud-init."
  }
}

output "server_k3s_config" {
  description = "Contents of the server's /etc/rancher/k3s/config.yaml."
  value       = local.server_k3s_config
  sensitive   = true
}

output "agent_k3s_config" {
  description = "Contents of every agent's /etc/rancher/k3s/config.yaml."
  value       = local.agent_k3s_config
  sensitive   = true
}

output "argocd_helmchart" {
  description = "The K3s HelmChart that installs Argo CD."
  value       = local.argocd_helmchart
}

output "root_application" {
  description = "The root Argo CD Application the server installs, with repoURL and targetRevision from git-source."
  value       = local.root_application

  precondition {
    condition     = try(local.root_doc.kind, "") == "Application" && can(local.root_doc.spec.source.path)
    error_message = "root_app_manifest must be one Argo CD Application with spec.source.path (see clusters/<cluster>/root-app.yaml)."
  }
}
