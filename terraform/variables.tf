# Inputs of the root module. Every variable is validated here so that a typo fails at `terraform plan`
# with a message naming the problem, instead of as a VM that never joins the cluster.

variable "k3s_version" {
  description = <<-EOT
    K3s release installed on every node (INSTALL_K3S_VERSION), an exact tag vX.Y.Z+k3sN. This default is the
    one home of the cluster's Kubernetes version: the manifest checks derive the Kubernetes minor from it.
  EOT
  type        = string
  default     = "v1.35.8+k3s1"

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+\\+k3s[0-9]+$", var.k3s_version))
    error_message = "k3s_version must be an exact K3s release tag, vX.Y.Z+k3sN (no channel names like \"stable\" or \"latest\"), so every node runs the same version."
  }
}

variable "argocd_chart_version" {
  description = "Exact version of the argo-cd Helm chart (https://argoproj.github.io/argo-helm) installed at bootstrap."
  type        = string
  default     = "10.9.3"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.argocd_chart_version))
    error_message = "argocd_chart_version must be an exact chart version, X.Y.Z (no ranges, no \"latest\")."
  }
}

variable "cluster_name" {
  description = "Prefix of every OpenStack resource this creates; lets several clusters share a project."
  type        = string
  default     = "stock"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.cluster_name))
    error_message = "cluster_name must be 1-20 lowercase letters, digits or '-', starting with a letter (it becomes part of host names)."
  }
}

variable "cluster_path" {
  description = "Folder of this cluster in the repository; its root-app.yaml becomes the root Argo CD Application."
  type        = string
  default     = "clusters/prod"

  validation {
    condition     = can(regex("^clusters/[a-z0-9][a-z0-9-]*$", var.cluster_path))
    error_message = "cluster_path must be a folder directly under clusters/, such as \"clusters/prod\"."
  }
}

variable "image_name" {
  description = "Name of an Ubuntu cloud image in Glance (cloud-init and systemd are all K3s needs), e.g. \"Ubuntu 24.04\"."
  type        = string

  validation {
    condition     = length(trimspace(var.image_name)) > 0
    error_message = "image_name must name an image; `openstack image list` shows the ones you can use."
  }
}

variable "server_flavor" {
  description = "Flavor of the K3s server (control plane only; 2 vCPU / 4 GiB is plenty)."
  type        = string

  validation {
    condition     = length(trimspace(var.server_flavor)) > 0
    error_message = "server_flavor must name a flavor; `openstack flavor list` shows the ones you can use."
  }
}

variable "agent_flavor" {
  description = "Flavor of each K3s agent (runs Argo CD and the app; 2 vCPU / 4 GiB or more)."
  type        = string

  validation {
    condition     = length(trimspace(var.agent_flavor)) > 0
    error_message = "agent_flavor must name a flavor; `openstack flavor list` shows the ones you can use."
  }
}

variable "agent_count" {
  description = "Number of K3s agents (worker nodes). The backend's HPA spreads 2-8 pods over them."
  type        = number
  default     = 2

  validation {
    condition     = var.agent_count >= 1 && var.agent_count <= 20 && floor(var.agent_count) == var.agent_count
    error_message = "agent_count must be a whole number from 1 to 20: the server is tainted, so without agents nothing runs."
  }
}

variable "external_network" {
  description = "Name of the external (provider) network that floating IPs and the router's gateway come from, e.g. \"public\"."
  type        = string

  validation {
    condition     = length(trimspace(var.external_network)) > 0
    error_message = "external_network must name a network; `openstack network list --external` shows them."
  }
}

variable "subnet_cidr" {
  description = "Private IPv4 range of the cluster network. Must not overlap K3s's pod (10.42.0.0/16) and service (10.43.0.0/16) ranges."
  type        = string
  default     = "192.168.42.0/24"

  validation {
    condition = (
      can(cidrhost(var.subnet_cidr, 0)) && !strcontains(var.subnet_cidr, ":") &&
      try(tonumber(split("/", var.subnet_cidr)[1]) >= 16 && tonumber(split("/", var.subnet_cidr)[1]) <= 26, false)
    )
    error_message = "subnet_cidr must be an IPv4 network between /16 and /26, such as \"192.168.42.0/24\"."
  }

  validation {
    # Two networks overlap when they agree on the shorter of their two prefixes.
    condition = try(!anytrue([
      for k3s_range in ["10.42.0.0/16", "10.43.0.0/16"] :
      cidrhost("${cidrhost(k3s_range, 0)}/${min(16, tonumber(split("/", var.subnet_cidr)[1]))}", 0) ==
      cidrhost("${cidrhost(var.subnet_cidr, 0)}/${min(16, tonumber(split("/", var.subnet_cidr)[1]))}", 0)
    ]), true)
    error_message = "subnet_cidr overlaps K3s's pod (10.42.0.0/16) or service (10.43.0.0/16) range; pick another, e.g. \"192.168.42.0/24\"."
  }
}

variable "dns_nameservers" {
  description = <<-EOT
    DNS resolvers handed out on the cluster network (nodes resolve GitHub, the registry and Yahoo with
    them). Empty (the default) leaves them to the cloud: Neutron's DHCP then hands out its own resolver,
    the one a cloud that blocks other outbound DNS allows. Set a list only if the cloud's resolver fails.
  EOT
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for ip in var.dns_nameservers : can(cidrhost("${ip}/32", 0)) && !strcontains(ip, ":")])
    error_message = "dns_nameservers must be IPv4 addresses such as \"192.0.2.53\" (the cluster subnet is IPv4), or empty for the cloud's own resolver."
  }

  validation {
    # Neutron refuses a subnet with a repeated nameserver, and more than max_dns_nameservers (5 by default).
    condition     = length(distinct(var.dns_nameservers)) == length(var.dns_nameservers) && length(var.dns_nameservers) <= 5
    error_message = "dns_nameservers must list each resolver once, at most 5 of them (Neutron's default limit)."
  }
}

variable "boot_volume_size" {
  description = <<-EOT
    Size in GiB of a volume to boot every node from, created from image_name and deleted with the node.
    null (the default) boots from the image on the flavor's own disk. Set it on clouds whose flavors
    have no disk (0 GB) and refuse image boot, or to give nodes more disk than the flavor has.
  EOT
  type        = number
  default     = null

  validation {
    # A conditional, not `||`: Terraform evaluates both sides of `||` (tflint's short-circuit rule).
    condition     = var.boot_volume_size == null ? true : (floor(var.boot_volume_size) == var.boot_volume_size && var.boot_volume_size >= 20 && var.boot_volume_size <= 1024)
    error_message = "boot_volume_size must be a whole number of GiB from 20 to 1024 (the OS, K3s and the container images need 20), or null to boot from the image."
  }
}

variable "admin_cidrs" {
  description = "IPv4 networks allowed to reach SSH (22) and the Kubernetes API (6443), e.g. [\"198.51.100.7/32\"]."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0 && alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && !can(regex(":", c))])
    error_message = "admin_cidrs must list at least one IPv4 network such as \"198.51.100.7/32\" (your address: curl -4 ifconfig.me)."
  }

  validation {
    condition     = alltrue([for c in var.admin_cidrs : !endswith(c, "/0")])
    error_message = "admin_cidrs must not contain 0.0.0.0/0 (or any /0): SSH and the Kubernetes API would be open to the whole internet."
  }
}

variable "key_pair_name" {
  description = "Existing Nova key pair for SSH. Set this or ssh_public_key, not both."
  type        = string
  default     = null
}

variable "ssh_public_key" {
  description = "OpenSSH public key (\"ssh-ed25519 AAAA...\") to create a key pair from. Set this or key_pair_name, not both."
  type        = string
  default     = null

  validation {
    condition     = (var.ssh_public_key == null) != (var.key_pair_name == null)
    error_message = "Set exactly one of key_pair_name (an existing key pair) and ssh_public_key (a public key to upload)."
  }

  validation {
    # A conditional, not `||`: Terraform evaluates both sides of `||` (tflint's short-circuit rule).
    condition     = var.ssh_public_key == null ? true : can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+", var.ssh_public_key))
    error_message = "ssh_public_key must be an OpenSSH public key line such as \"ssh-ed25519 AAAA... you@host\" (the .pub file, never the private key)."
  }
}

variable "ssh_user" {
  description = "Login user of the image (\"ubuntu\" on Ubuntu cloud images); only used in the printed commands."
  type        = string
  default     = "ubuntu"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]*$", var.ssh_user))
    error_message = "ssh_user must be a Unix user name such as \"ubuntu\"."
  }
}
