# Offline tests of the cloud-init the cluster boots from: `python tools/terraform.py -chdir=<this module> test`.
# Every run only plans; this module has no provider and creates nothing.

# Example versions, not the cluster's: the module takes any exact release, and the cluster's pins live only in
# terraform/variables.tf (tests/tools/test_pins.py), so bumping them never touches this file.
variables {
  k3s_version          = "v1.30.0+k3s9"
  server_private_ip    = "192.168.42.10"
  server_public_ip     = "203.0.113.10"
  cluster_token        = "ServerToken0123456789abcdefghijklmnopqrstuv"
  agent_token          = "AgentToken0123456789abcdefghijklmnopqrstuvw"
  argocd_chart_version = "1.2.3"
  root_app_manifest    = <<-EOT
    apiVersion: argoproj.io/v1alpha1
    kind: Application
    metadata:
      name: root
      namespace: argocd
    spec:
      project: default
      source:
        repoURL: set-by-git-source
        targetRevision: set-by-git-source
        path: clusters/prod
      destination:
        server: https://kubernetes.default.svc
        namespace: argocd
      syncPolicy:
        automated:
          prune: true
          selfHeal: true
  EOT
  git_source_manifest  = <<-EOT
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: git-source
      annotations:
        config.kubernetes.io/local-config: "true"
    data:
      repoURL: https://github.com/stock-gitops/stock-gitops.git
      targetRevision: main
  EOT
}

run "server_installs_the_pinned_k3s_with_its_config_file" {
  command = plan

  assert {
    condition     = yamldecode(output.server_cloud_config).runcmd == [["/usr/local/sbin/install-k3s", "server", "v1.30.0+k3s9"]]
    error_message = "The server must install exactly the pinned K3s release as a server."
  }
  assert {
    condition     = startswith(output.server_cloud_config, "#cloud-config\n")
    error_message = "cloud-init only reads user data that starts with #cloud-config."
  }
  assert {
    condition = jsonencode(yamldecode(one([
      for f in yamldecode(output.server_cloud_config).write_files : f.content if f.path == "/etc/rancher/k3s/config.yaml"
    ]))) == jsonencode(output.server_k3s_config)
    error_message = "The server's K3s settings must be written to /etc/rancher/k3s/config.yaml."
  }
  assert {
    condition = alltrue([
      for f in yamldecode(output.server_cloud_config).write_files : f.permissions == "0600" if f.path != "/usr/local/sbin/install-k3s"
    ])
    error_message = "Files holding tokens or cluster manifests must be readable by root only."
  }
}

run "server_is_tainted_and_certified_for_its_floating_ip" {
  command = plan

  assert {
    condition     = output.server_k3s_config["node-taint"] == ["node-role.kubernetes.io/control-plane:NoSchedule"]
    error_message = "The server must be tainted so that workloads stay off it."
  }
  assert {
    condition     = contains(output.server_k3s_config["tls-san"], "203.0.113.10")
    error_message = "The floating IP must be in the API certificate's SANs."
  }
  assert {
    condition     = output.server_k3s_config["write-kubeconfig-mode"] == "0600"
    error_message = "The admin kubeconfig must be readable by root only."
  }
  assert {
    condition     = !contains(keys(output.server_k3s_config), "node-label")
    error_message = "The server must not carry the worker label, or the app's nodeSelector would allow it."
  }
}

run "agents_join_with_the_agent_token_and_the_worker_label" {
  command = plan

  assert {
    condition     = output.agent_k3s_config.token == var.agent_token && output.server_k3s_config["agent-token"] == var.agent_token
    error_message = "Agents must join with the agent token the server accepts."
  }
  assert {
    condition     = output.server_k3s_config.token == var.cluster_token && !strcontains(output.agent_cloud_config, var.cluster_token)
    error_message = "The server token must stay on the server; agents never see it."
  }
  assert {
    condition     = output.agent_k3s_config.server == "https://192.168.42.10:6443"
    error_message = "Agents must find the server at its fixed private address."
  }
  assert {
    condition     = output.agent_k3s_config["node-label"] == ["nodepool=worker"]
    error_message = "Agents must register with nodepool=worker (the app's nodeSelector)."
  }
  assert {
    condition     = yamldecode(output.agent_cloud_config).runcmd == [["/usr/local/sbin/install-k3s", "agent", "v1.30.0+k3s9"]]
    error_message = "Agents must install exactly the pinned K3s release as agents."
  }
  assert {
    condition     = !strcontains(output.agent_cloud_config, "argocd")
    error_message = "Only the server deploys manifests; agents get none."
  }
}

# The root module passes a server CA made by hashicorp/tls. These PEM blocks are stand-ins (the module
# only writes and hashes them); the expected hash was computed outside Terraform, with Python's hashlib
# over the same bytes, as K3s hashes a single-certificate server-ca.crt (sha256 of the file).
run "a_given_server_ca_is_installed_and_pinned_by_the_agents" {
  command = plan

  variables {
    server_ca_cert_pem = "-----BEGIN CERTIFICATE-----\nTUlJQmZha2VDZXJ0aWZpY2F0ZUJvZHk=\n-----END CERTIFICATE-----\n"
    server_ca_key_pem  = "-----BEGIN EC PRIVATE KEY-----\nTUlJQmZha2VLZXk=\n-----END EC PRIVATE KEY-----\n"
  }

  assert {
    condition     = output.agent_k3s_config.token == "K101594dc73471a0526b5c888a15ab02de25099ade8d29cc9fe3c36482a53afd949::node:${var.agent_token}"
    error_message = "Agents must join with K10<sha256 of the CA file>::node:<agent token>."
  }
  assert {
    condition     = output.server_k3s_config["agent-token"] == var.agent_token
    error_message = "The server is configured with the agent token's password; the full form is for joining."
  }
  assert {
    condition = toset([
      for f in yamldecode(output.server_cloud_config).write_files : [f.path, f.permissions, base64decode(f.content)]
      if startswith(f.path, "/var/lib/rancher/k3s/server/tls/") && f.encoding == "b64"
      ]) == toset([
      ["/var/lib/rancher/k3s/server/tls/server-ca.crt", "0644", var.server_ca_cert_pem],
      ["/var/lib/rancher/k3s/server/tls/server-ca.key", "0600", var.server_ca_key_pem],
    ])
    error_message = "The server must get exactly the CA certificate and its root-only key, byte for byte (base64), where K3s looks first."
  }
  assert {
    condition = (
      !strcontains(output.agent_cloud_config, "PRIVATE KEY") &&
      !strcontains(output.agent_cloud_config, base64encode(var.server_ca_key_pem)) &&
      !strcontains(output.agent_cloud_config, "/server/tls/")
    )
    error_message = "The CA key goes to the server only; agents need just the hash in their token."
  }
}

run "without_a_server_ca_k3s_makes_its_own_and_agents_use_the_short_token" {
  command = plan

  assert {
    condition     = output.agent_k3s_config.token == var.agent_token
    error_message = "Without a CA the hash is unknown before K3s starts: the short token is all there is."
  }
  assert {
    condition     = !strcontains(output.server_cloud_config, "/server/tls/")
    error_message = "Without a CA nothing may be written into K3s's tls folder."
  }
}

run "two_certificates_as_server_ca_are_refused" {
  command = plan
  variables {
    server_ca_cert_pem = "-----BEGIN CERTIFICATE-----\nQQ==\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nQg==\n-----END CERTIFICATE-----\n"
    server_ca_key_pem  = "-----BEGIN EC PRIVATE KEY-----\nQQ==\n-----END EC PRIVATE KEY-----\n"
  }
  expect_failures = [var.server_ca_cert_pem]
}

run "server_ca_without_its_key_is_refused" {
  command = plan
  variables {
    server_ca_cert_pem = "-----BEGIN CERTIFICATE-----\nQQ==\n-----END CERTIFICATE-----\n"
  }
  expect_failures = [var.server_ca_key_pem]
}

run "server_ca_key_that_is_no_pem_key_is_refused" {
  command = plan
  variables {
    server_ca_cert_pem = "-----BEGIN CERTIFICATE-----\nQQ==\n-----END CERTIFICATE-----\n"
    server_ca_key_pem  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"
  }
  expect_failures = [var.server_ca_key_pem]
}

run "server_installs_the_pinned_argocd_chart" {
  command = plan

  assert {
    condition = (
      output.argocd_helmchart.kind == "HelmChart" &&
      output.argocd_helmchart.spec.chart == "argo-cd" &&
      output.argocd_helmchart.spec.version == "1.2.3" &&
      output.argocd_helmchart.spec.repo == "https://argoproj.github.io/argo-helm" &&
      output.argocd_helmchart.spec.targetNamespace == "argocd"
    )
    error_message = "Argo CD must come from the pinned argo-cd chart, into the argocd namespace."
  }
  assert {
    condition = yamldecode(one([
      for f in yamldecode(output.server_cloud_config).write_files : f.content
      if f.path == "/var/lib/rancher/k3s/server/manifests/argocd.yaml"
    ])) == output.argocd_helmchart
    error_message = "The HelmChart must be in K3s's auto-deploy manifests folder."
  }
  assert {
    condition     = yamldecode(output.argocd_helmchart.spec.valuesContent).dex.enabled == false
    error_message = "Dex (SSO only) must stay disabled."
  }
  assert {
    condition = alltrue([
      for logic in ["status.health.status", "\"Synced\"", "operationState", "\"Degraded\"", "return hs"] :
      strcontains(yamldecode(output.argocd_helmchart.spec.valuesContent).configs.cm["resource.customizations.health.argoproj.io_Application"], logic)
    ])
    error_message = "argocd-cm must carry the argoproj.io/Application health check (health, sync status, last operation), or the root's sync waves never wait for a child to arrive."
  }
  assert {
    condition = alltrue([
      for logic in ["lastScheduleTime", "lastSuccessfulTime", "\"Degraded\"", "return hs"] :
      strcontains(yamldecode(output.argocd_helmchart.spec.valuesContent).configs.cm["resource.customizations.health.batch_CronJob"], logic)
    ])
    error_message = "argocd-cm must carry the batch/CronJob health check, or the metrics-server check stays green until its first success."
  }
}

run "root_app_pulls_from_git_source" {
  command = plan

  assert {
    condition     = output.root_application.spec.source.repoURL == "https://github.com/stock-gitops/stock-gitops.git"
    error_message = "The root app's repoURL must come from the git-source ConfigMap."
  }
  assert {
    condition     = output.root_application.spec.source.targetRevision == "main"
    error_message = "The root app's targetRevision must come from the git-source ConfigMap."
  }
  assert {
    condition = (
      output.root_application.spec.source.path == "clusters/prod" &&
      output.root_application.metadata.name == "root" &&
      output.root_application.spec.syncPolicy.automated.selfHeal
    )
    error_message = "Everything else in the root app must be kept as clusters/ wrote it."
  }
  assert {
    condition = yamldecode(one([
      for f in yamldecode(output.server_cloud_config).write_files : f.content
      if f.path == "/var/lib/rancher/k3s/server/manifests/argocd-root-app.yaml"
    ])) == output.root_application
    error_message = "The root app must be in K3s's auto-deploy manifests folder."
  }
}

run "user_data_fits_nova" {
  command = plan

  assert {
    condition     = length(output.server_user_data) <= 65535 && length(output.agent_user_data) <= 65535
    error_message = "Nova refuses user data above 65535 bytes."
  }
  assert {
    condition     = output.server_user_data == base64gzip(output.server_cloud_config)
    error_message = "The user data must be the gzipped cloud-config."
  }
}

run "oversized_user_data_is_refused" {
  command = plan

  variables {
    user_data_limit_bytes = 256
  }

  expect_failures = [output.server_user_data, output.agent_user_data]
}

run "channel_instead_of_k3s_release_is_refused" {
  command = plan
  variables { k3s_version = "stable" }
  expect_failures = [var.k3s_version]
}

run "argocd_chart_range_is_refused" {
  command = plan
  variables { argocd_chart_version = "~> 10.9" }
  expect_failures = [var.argocd_chart_version]
}

run "shared_token_is_refused" {
  command = plan
  variables { agent_token = "ServerToken0123456789abcdefghijklmnopqrstuv" }
  expect_failures = [var.agent_token]
}

run "short_token_is_refused" {
  command = plan
  variables { cluster_token = "short" }
  expect_failures = [var.cluster_token]
}

run "bad_address_is_refused" {
  command = plan
  variables { server_public_ip = "my-server.example" }
  expect_failures = [var.server_public_ip]
}

run "non_application_root_manifest_is_refused" {
  command = plan
  variables { root_app_manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nope\n" }
  expect_failures = [output.root_application]
}

# git-source.yaml is the only home of the repo URL and revision: a file that lacks either is refused.
run "git_source_without_data_is_refused" {
  command = plan
  variables { git_source_manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: git-source\n" }
  expect_failures = [var.git_source_manifest]
}

run "git_source_without_repo_url_is_refused" {
  command = plan
  variables { git_source_manifest = "kind: ConfigMap\nmetadata:\n  name: git-source\ndata:\n  targetRevision: main\n" }
  expect_failures = [var.git_source_manifest]
}

run "git_source_without_target_revision_is_refused" {
  command = plan
  variables { git_source_manifest = "kind: ConfigMap\nmetadata:\n  name: git-source\ndata:\n  repoURL: https://github.com/a-fork/stock-gitops.git\n" }
  expect_failures = [var.git_source_manifest]
}

run "git_source_with_schemeless_repo_url_is_refused" {
  command = plan
  variables { git_source_manifest = "kind: ConfigMap\nmetadata:\n  name: git-source\ndata:\n  repoURL: github.com/a-fork/stock-gitops\n  targetRevision: main\n" }
  expect_failures = [var.git_source_manifest]
}

run "other_configmap_as_git_source_is_refused" {
  command = plan
  variables { git_source_manifest = "kind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  repoURL: https://github.com/a-fork/stock-gitops.git\n  targetRevision: main\n" }
  expect_failures = [var.git_source_manifest]
}

run "a_fork_edits_git_source_only" {
  command = plan
  variables { git_source_manifest = "kind: ConfigMap\nmetadata:\n  name: git-source\ndata:\n  repoURL: git@github.com:a-fork/stock-gitops.git\n  targetRevision: release-1\n" }

  assert {
    condition = (
      output.root_application.spec.source.repoURL == "git@github.com:a-fork/stock-gitops.git" &&
      output.root_application.spec.source.targetRevision == "release-1" &&
      output.root_application.spec.source.path == "clusters/prod"
    )
    error_message = "The root app must pull from whatever git-source.yaml names."
  }
}
