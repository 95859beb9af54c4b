# Renders the cloud-init user data of the K3s server and of the agents. Everything a node needs to
# become part of the cluster is in here, so no one has to ssh in after `terraform apply`.

locals {
  # K3s applies every manifest in this folder at start-up and keeps re-applying it every 15 s until
  # the apply succeeds (it records a file as done only after a successful apply).
  manifests_dir = "/var/lib/rancher/k3s/server/manifests"
  server_url    = "https://${var.server_private_ip}:6443"

  # The server runs the control plane only. Everything K3s bundles tolerates this taint: the ServiceLB
  # DaemonSet must run here (the floating IP's ports 80/443 arrive here), and so must Traefik, a DaemonSet
  # behind an externalTrafficPolicy Local Service (platform/README.md); CoreDNS, metrics-server and
  # local-path-provisioner may. Argo CD, the stock app and the helm-install Jobs tolerate
  # nothing, so they land on the agents. NoSchedule (not CriticalAddonsOnly:NoExecute) keeps the
  # kubeadm convention that charts and operators already know.
  server_taint = "node-role.kubernetes.io/control-plane:NoSchedule"
  worker_label = "nodepool=worker"

  server_k3s_config = {
    "token"       = var.cluster_token
    "agent-token" = var.agent_token
    # The floating IP is NATed, not on any interface, so K3s cannot know it by itself.
    "tls-san"               = distinct([var.server_public_ip, var.server_private_ip])
    "write-kubeconfig-mode" = "0600"
    "node-taint"            = [local.server_taint]
    "secrets-encryption"    = true
  }

  # K3s reads its server CA from here if both files exist when it first starts, and makes every other CA
  # (client, request-header, etcd) itself (pkg/daemons/control/deps: each CA is created only when its
  # own certificate and key are missing). The bytes go in base64 so cloud-init writes them unchanged:
  # the token's hash is over exactly these bytes.
  tls_dir = "/var/lib/rancher/k3s/server/tls"
  server_ca_files = var.server_ca_cert_pem == null ? [] : [
    { path = "${local.tls_dir}/server-ca.crt", permissions = "0644", encoding = "b64", content = base64encode(var.server_ca_cert_pem) },
    { path = "${local.tls_dir}/server-ca.key", permissions = "0600", encoding = "b64", content = base64encode(var.server_ca_key_pem) },
  ]

  # K3s's secure token format, K10<CA hash>::<user>:<password>: before it sends the password, an agent
  # fetches /cacerts and refuses a server whose CA bundle does not hash to this. For one self-signed
  # certificate K3s hashes the file's bytes (pkg/clientaccess/token.go, hashCA); the agent token's user is
  # "node" (the server's passwd file). Without a CA from Terraform, the short form (password only).
  agent_join_token = var.server_ca_cert_pem == null ? var.agent_token : "K10${sha256(var.server_ca_cert_pem)}::node:${var.agent_token}"

  agent_k3s_config = {
    "server"     = local.server_url
    "token"      = local.agent_join_token
    "node-label" = [local.worker_label]
  }

  argocd_helmchart = {
    apiVersion = "helm.cattle.io/v1"
    kind       = "HelmChart"
    metadata   = { name = "argocd", namespace = "kube-system" }
    spec = {
      repo            = "https://argoproj.github.io/argo-helm"
      chart           = "argo-cd"
      version         = var.argocd_chart_version
      targetNamespace = "argocd"
      createNamespace = true
      valuesContent   = yamlencode(local.argocd_values)
    }
  }

  # Keys of the argo-cd chart's values.yaml (configs.cm is rendered into the argocd-cm ConfigMap as is).
  argocd_values = {
    # Dex is only for SSO, which this cluster does not configure; the built-in admin user remains.
    dex = { enabled = false }
    configs = {
      cm = {
        # Argo CD stopped assessing the health of Applications in 1.8. Without this check a child
        # Application has no health, so the root's sync waves (platform, then stock-app, then loadtest)
        # would only order their creation instead of waiting for each wave to be synced and healthy.
        "resource.customizations.health.argoproj.io_Application" = file("${path.module}/files/application-health.lua")
        # The built-in CronJob check calls a CronJob that has never succeeded Healthy, so the
        # metrics-server check (platform/) could not turn red when metrics-server is broken from day one.
        "resource.customizations.health.batch_CronJob" = file("${path.module}/files/cronjob-health.lua")
      }
    }
  }

  # The root Application is the one from clusters/, with where it pulls from filled in from git-source, as
  # the git-source kustomize component does for Argo CD: the first self-sync of the root changes nothing.
  root_doc   = yamldecode(var.root_app_manifest)
  git_source = yamldecode(var.git_source_manifest).data

  root_application = merge(local.root_doc, {
    spec = merge(try(local.root_doc.spec, {}), {
      source = merge(try(local.root_doc.spec.source, {}), {
        repoURL        = local.git_source.repoURL
        targetRevision = local.git_source.targetRevision
      })
    })
  })

  install_script = {
    path        = "/usr/local/sbin/install-k3s"
    permissions = "0700"
    content     = file("${path.module}/files/install-k3s.sh")
  }

  server_cloud_config = join("\n", ["#cloud-config", yamlencode({
    write_files = concat([
      { path = "/etc/rancher/k3s/config.yaml", permissions = "0600", content = yamlencode(local.server_k3s_config) },
      { path = "${local.manifests_dir}/argocd.yaml", permissions = "0600", content = yamlencode(local.argocd_helmchart) },
      { path = "${local.manifests_dir}/argocd-root-app.yaml", permissions = "0600", content = yamlencode(local.root_application) },
      local.install_script,
    ], local.server_ca_files)
    runcmd = [[local.install_script.path, "server", var.k3s_version]]
  })])

  agent_cloud_config = join("\n", ["#cloud-config", yamlencode({
    write_files = [
      { path = "/etc/rancher/k3s/config.yaml", permissions = "0600", content = yamlencode(local.agent_k3s_config) },
      local.install_script,
    ]
    runcmd = [[local.install_script.path, "agent", var.k3s_version]]
  })])
}
