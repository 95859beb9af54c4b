# The module fed with this repository's real clusters/ files, the way the root module feeds it.
# Paths are relative to this module's folder (terraform test runs there).

# Example versions, not the cluster's: the module takes any exact release, and the cluster's pins live only in
# terraform/variables.tf (tests/tools/test_pins.py), so bumping them never touches this file.
variables {
  k3s_version          = "v1.30.0+k3s9"
  server_private_ip    = "192.168.42.10"
  server_public_ip     = "203.0.113.10"
  cluster_token        = "ServerToken0123456789abcdefghijklmnopqrstuv"
  agent_token          = "AgentToken0123456789abcdefghijklmnopqrstuvw"
  argocd_chart_version = "1.2.3"
  root_app_manifest    = file("../../../clusters/prod/root-app.yaml")
  git_source_manifest  = file("../../../clusters/components/git-source/git-source.yaml")
}

run "repo_root_app_points_at_the_repo_and_the_prod_cluster" {
  command = plan

  assert {
    condition = (
      output.root_application.kind == "Application" &&
      output.root_application.metadata.name == "root" &&
      output.root_application.metadata.namespace == "argocd" &&
      output.root_application.spec.source.path == "clusters/prod"
    )
    error_message = "clusters/prod/root-app.yaml must be the root Application of clusters/prod in argocd."
  }
  assert {
    condition = (
      output.root_application.spec.source.repoURL == yamldecode(var.git_source_manifest).data.repoURL &&
      output.root_application.spec.source.targetRevision == yamldecode(var.git_source_manifest).data.targetRevision
    )
    error_message = "The installed root app must pull from git-source's repoURL and targetRevision."
  }
  assert {
    condition     = length(output.server_user_data) <= 65535
    error_message = "The real root app must still fit Nova's user data limit."
  }
}
