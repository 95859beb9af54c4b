variable "k3s_version" {
  description = "Exact K3s release every node installs, vX.Y.Z+k3sN (the root module passes its pin)."
  type        = string

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+\\+k3s[0-9]+$", var.k3s_version))
    error_message = "k3s_version must be an exact K3s release tag (vX.Y.Z+k3sN), not a channel like \"stable\"."
  }
}

variable "server_private_ip" {
  description = "Fixed address of the server on the cluster network; agents join https://<this>:6443."
  type        = string

  validation {
    condition     = can(cidrhost("${var.server_private_ip}/32", 0))
    error_message = "server_private_ip must be an IPv4 address such as \"192.168.42.10\"."
  }
}

variable "server_public_ip" {
  description = "Floating IP of the server; it goes into the API certificate's SANs so kubectl can use it."
  type        = string

  validation {
    condition     = can(cidrhost("${var.server_public_ip}/32", 0))
    error_message = "server_public_ip must be an IPv4 address such as \"203.0.113.10\"."
  }
}

variable "cluster_token" {
  description = "K3s server token: only servers use it (and it guards the datastore's encryption)."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9]{32,}$", var.cluster_token))
    error_message = "cluster_token must be at least 32 letters or digits (K3s parses ':' inside tokens)."
  }
}

variable "agent_token" {
  description = "K3s agent token: all an agent can use to join, so a leaked agent cannot become a server."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9]{32,}$", var.agent_token))
    error_message = "agent_token must be at least 32 letters or digits (K3s parses ':' inside tokens)."
  }

  validation {
    condition     = var.agent_token != var.cluster_token
    error_message = "agent_token must differ from cluster_token, or every agent holds the server's credentials."
  }
}

variable "server_ca_cert_pem" {
  description = "PEM of the K3s server CA (one self-signed certificate), installed before K3s first starts so that the agents' token can pin it. null: K3s makes its own CA and agents join with the short token, trusting the first server they reach (only for callers that never run K3s: the root module always sets it)."
  type        = string
  default     = null

  # K3s hashes a bundle of several certificates differently (the DER of its root), so the token's hash
  # below is right only for exactly one.
  validation {
    condition     = var.server_ca_cert_pem == null || can(regex("^-----BEGIN CERTIFICATE-----\\n[A-Za-z0-9+/=\\n]+-----END CERTIFICATE-----\\n$", coalesce(var.server_ca_cert_pem, "-")))
    error_message = "server_ca_cert_pem must be exactly one PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----, ending in a newline), such as tls_self_signed_cert's cert_pem."
  }
}

variable "server_ca_key_pem" {
  description = "PEM private key of server_ca_cert_pem; written to the server only. null exactly when server_ca_cert_pem is."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = (var.server_ca_key_pem == null) == (var.server_ca_cert_pem == null)
    error_message = "server_ca_key_pem and server_ca_cert_pem go together: set both (the root module's tls resources) or neither."
  }

  validation {
    condition     = var.server_ca_key_pem == null || can(regex("^-----BEGIN (EC |RSA )?PRIVATE KEY-----\\n", coalesce(var.server_ca_key_pem, "-")))
    error_message = "server_ca_key_pem must be a PEM private key (-----BEGIN EC PRIVATE KEY-----, RSA or PKCS#8), such as tls_private_key's private_key_pem."
  }
}

variable "argocd_chart_version" {
  description = "Exact version of the argo-cd Helm chart from https://argoproj.github.io/argo-helm."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.argocd_chart_version))
    error_message = "argocd_chart_version must be an exact chart version (X.Y.Z; no ranges, no \"latest\")."
  }
}

variable "root_app_manifest" {
  description = "YAML of the cluster's root Argo CD Application (clusters/<cluster>/root-app.yaml)."
  type        = string
}

variable "git_source_manifest" {
  description = "YAML of the git-source ConfigMap (clusters/components/git-source/git-source.yaml): the one home of the repo URL and revision."
  type        = string

  # No variable overrides these two values: the root app is part of clusters/<cluster>, so Argo CD's first
  # sync of it would put git-source.yaml's values back anyway. A wrong file is refused here, at plan time.
  validation {
    condition = (
      try(yamldecode(var.git_source_manifest).kind, null) == "ConfigMap" &&
      try(yamldecode(var.git_source_manifest).metadata.name, null) == "git-source"
    )
    error_message = "git_source_manifest must be the ConfigMap named git-source from clusters/components/git-source/git-source.yaml."
  }

  validation {
    condition     = can(regex("^(https://|ssh://|git@)[^\\s]+$", yamldecode(var.git_source_manifest).data.repoURL))
    error_message = "clusters/components/git-source/git-source.yaml must set data.repoURL to the Git repository Argo CD pulls from, as an https://, ssh:// or git@ URL (a fork puts its own repository there before terraform apply)."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", yamldecode(var.git_source_manifest).data.targetRevision))
    error_message = "clusters/components/git-source/git-source.yaml must set data.targetRevision to the branch, tag or commit Argo CD tracks, such as \"main\"."
  }
}

variable "user_data_limit_bytes" {
  description = "Largest user data the cloud accepts; Nova refuses more than 65535 bytes (base64-encoded)."
  type        = number
  default     = 65535
}
