# One K3s server and var.agent_count agents on their own network, behind one floating IP, that install
# Argo CD and the root app of var.cluster_path by themselves. The node set-up lives in
# modules/k3s-cloud-init (tested offline); this file is only the OpenStack side.

locals {
  repo_root = "${path.module}/.."
  # The server's address is fixed before anything boots, so the agents' user data can name it. It sits
  # below the DHCP allocation pool, so no other port can take it first.
  server_private_ip = cidrhost(var.subnet_cidr, 10)
  key_pair          = var.ssh_public_key == null ? var.key_pair_name : openstack_compute_keypair_v2.admin[0].name
}

resource "random_password" "cluster_token" {
  length  = 48
  special = false
}

# Separate from the server token: an agent's token lets a machine join as a worker, nothing more.
resource "random_password" "agent_token" {
  length  = 48
  special = false
}

# The server's CA, made here rather than by K3s on first start, so that its hash is known before any node
# boots: the agents' token carries it (K10<sha256>::node:<password>) and an agent trusts only a server
# that presents this CA, from its first join on. K3s uses a CA whose files it finds in place and makes
# the others (client, request-header, etcd) itself (README.md, "Tokens").
resource "tls_private_key" "server_ca" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_self_signed_cert" "server_ca" {
  private_key_pem = tls_private_key.server_ca.private_key_pem
  subject {
    common_name = "${var.cluster_name}-k3s-server-ca"
  }
  is_ca_certificate = true
  # Ten years, as K3s gives its own CAs; the server's leaf certificates are K3s's and renew themselves.
  validity_period_hours = 87600
  allowed_uses          = ["cert_signing", "crl_signing", "digital_signature", "key_encipherment"]
}

module "cloud_init" {
  source = "./modules/k3s-cloud-init"

  k3s_version          = var.k3s_version
  argocd_chart_version = var.argocd_chart_version
  server_private_ip    = local.server_private_ip
  server_public_ip     = openstack_networking_floatingip_v2.server.address
  cluster_token        = random_password.cluster_token.result
  agent_token          = random_password.agent_token.result
  server_ca_cert_pem   = tls_self_signed_cert.server_ca.cert_pem
  server_ca_key_pem    = tls_private_key.server_ca.private_key_pem

  # Read from this checkout. The repo URL and revision have one home, git-source.yaml, which Argo CD reads
  # from Git for every Application, the root included (README.md, "A fork").
  root_app_manifest   = file("${local.repo_root}/${var.cluster_path}/root-app.yaml")
  git_source_manifest = file("${local.repo_root}/clusters/components/git-source/git-source.yaml")
}

# --- network -------------------------------------------------------------------------------------

data "openstack_networking_network_v2" "external" {
  name     = var.external_network
  external = true
}

resource "openstack_networking_network_v2" "cluster" {
  name           = "${var.cluster_name}-net"
  admin_state_up = true
}

# Without dns_nameservers, Neutron's DHCP hands out the cloud's own resolver (README.md, Variables).
resource "openstack_networking_subnet_v2" "cluster" {
  name            = "${var.cluster_name}-subnet"
  network_id      = openstack_networking_network_v2.cluster.id
  cidr            = var.subnet_cidr
  ip_version      = 4
  dns_nameservers = length(var.dns_nameservers) > 0 ? var.dns_nameservers : null

  allocation_pool {
    start = cidrhost(var.subnet_cidr, 20)
    end   = cidrhost(var.subnet_cidr, -2)
  }
}

# The nodes reach GitHub, the chart repository and the image registry through this router.
resource "openstack_networking_router_v2" "cluster" {
  name                = "${var.cluster_name}-router"
  external_network_id = data.openstack_networking_network_v2.external.id
}

resource "openstack_networking_router_interface_v2" "cluster" {
  router_id = openstack_networking_router_v2.cluster.id
  subnet_id = openstack_networking_subnet_v2.cluster.id
}

# --- security group ------------------------------------------------------------------------------

locals {
  admin_ports = { ssh = 22, kube-api = 6443 }
  admin_rules = merge([
    for name, port in local.admin_ports : {
      for cidr in var.admin_cidrs : "${name} from ${cidr}" => { port = port, cidr = cidr }
    }
  ]...)

  # What K3s needs between its own nodes (single server, embedded SQLite, flannel VXLAN).
  cluster_rules = {
    "kube-api and supervisor" = { protocol = "tcp", port = 6443 }
    "flannel vxlan"           = { protocol = "udp", port = 8472 }
    "kubelet"                 = { protocol = "tcp", port = 10250 }
  }
}

resource "openstack_networking_secgroup_v2" "cluster" {
  name        = "${var.cluster_name}-nodes"
  description = "K3s nodes of ${var.cluster_name}: web from anywhere, admin from admin_cidrs, K3s between members"
  # Start from nothing; every rule this group has is written below.
  delete_default_rules = true
}

resource "openstack_networking_secgroup_rule_v2" "admin" {
  for_each = local.admin_rules

  description       = each.key
  security_group_id = openstack_networking_secgroup_v2.cluster.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = each.value.port
  port_range_max    = each.value.port
  remote_ip_prefix  = each.value.cidr
}

# Open to the world on purpose: the stock app is a public website, served by Traefik (through ServiceLB on
# the server, which holds the floating IP). These are the only rules with 0.0.0.0/0; the structure tests
# in tests/terraform/ hold that line. (checkov's OpenStack checks flag 0.0.0.0/0 only on 22 and 3389.)
resource "openstack_networking_secgroup_rule_v2" "web" {
  for_each = { http = 80, https = 443 }

  description       = "${each.key} from anywhere (Traefik, the public app)"
  security_group_id = openstack_networking_secgroup_v2.cluster.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = each.value
  port_range_max    = each.value
  remote_ip_prefix  = "0.0.0.0/0"
}

resource "openstack_networking_secgroup_rule_v2" "cluster" {
  for_each = local.cluster_rules

  description       = "${each.key} between cluster nodes"
  security_group_id = openstack_networking_secgroup_v2.cluster.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = each.value.protocol
  port_range_min    = each.value.port
  port_range_max    = each.value.port
  remote_group_id   = openstack_networking_secgroup_v2.cluster.id
}

# Nodes pull K3s, charts, images and Yahoo data from the internet.
resource "openstack_networking_secgroup_rule_v2" "egress" {
  for_each = toset(["IPv4", "IPv6"])

  description       = "all outbound traffic (${each.key})"
  security_group_id = openstack_networking_secgroup_v2.cluster.id
  direction         = "egress"
  ethertype         = each.key
}

# --- ports and floating IP -----------------------------------------------------------------------

resource "openstack_networking_port_v2" "server" {
  name               = "${var.cluster_name}-server"
  network_id         = openstack_networking_network_v2.cluster.id
  admin_state_up     = true
  security_group_ids = [openstack_networking_secgroup_v2.cluster.id]

  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.cluster.id
    ip_address = local.server_private_ip
  }
}

resource "openstack_networking_port_v2" "agent" {
  count = var.agent_count

  name               = "${var.cluster_name}-agent-${count.index + 1}"
  network_id         = openstack_networking_network_v2.cluster.id
  admin_state_up     = true
  security_group_ids = [openstack_networking_secgroup_v2.cluster.id]

  fixed_ip {
    subnet_id = openstack_networking_subnet_v2.cluster.id
  }
}

resource "openstack_networking_floatingip_v2" "server" {
  pool        = var.external_network
  description = "K3s API and web entry of ${var.cluster_name}"
}

resource "openstack_networking_floatingip_associate_v2" "server" {
  floating_ip = openstack_networking_floatingip_v2.server.address
  port_id     = openstack_networking_port_v2.server.id

  # A floating IP can only be bound once the subnet is attached to a router on the external network.
  depends_on = [openstack_networking_router_interface_v2.cluster]
}

# --- instances -----------------------------------------------------------------------------------

# Boot from volume needs the image's id; image boot keeps naming the image, as before.
data "openstack_images_image_v2" "node" {
  count = var.boot_volume_size == null ? 0 : 1

  name        = var.image_name
  most_recent = true
}

locals {
  boot_from_volume = var.boot_volume_size == null ? [] : [{
    image_id = data.openstack_images_image_v2.node[0].id
    size     = var.boot_volume_size
  }]
  # With a boot volume, Nova takes the image from block_device; a second image reference is redundant.
  instance_image_name = var.boot_volume_size == null ? var.image_name : null
}

resource "openstack_compute_keypair_v2" "admin" {
  count = var.ssh_public_key == null ? 0 : 1

  name       = "${var.cluster_name}-admin"
  public_key = var.ssh_public_key
}

resource "openstack_compute_instance_v2" "server" {
  name        = "${var.cluster_name}-server"
  image_name  = local.instance_image_name
  flavor_name = var.server_flavor
  key_pair    = local.key_pair
  user_data   = module.cloud_init.server_user_data
  metadata    = { cluster = var.cluster_name, role = "server" }

  network {
    port = openstack_networking_port_v2.server.id
  }

  # Clouds whose flavors have no disk refuse image boot: the root disk is then a volume made from the
  # image, deleted with the node (its data lives in Git and the datastore, not on the disk).
  dynamic "block_device" {
    for_each = local.boot_from_volume
    content {
      uuid                  = block_device.value.image_id
      source_type           = "image"
      destination_type      = "volume"
      volume_size           = block_device.value.size
      boot_index            = 0
      delete_on_termination = true
    }
  }

  # cloud-init runs once, on first boot; K3s and Argo CD take it from there. A changed template must not
  # silently replace the server (and its datastore): replace it on purpose with `-replace` instead.
  lifecycle {
    ignore_changes = [user_data]
  }

  # First boot downloads K3s, so the way out must exist before the VM starts: the router, and the egress
  # rules of a group that starts empty (delete_default_rules); the agents' traffic needs the K3s rules.
  depends_on = [
    openstack_networking_router_interface_v2.cluster,
    openstack_networking_secgroup_rule_v2.egress,
    openstack_networking_secgroup_rule_v2.cluster,
  ]
}

resource "openstack_compute_instance_v2" "agent" {
  count = var.agent_count

  name        = "${var.cluster_name}-agent-${count.index + 1}"
  image_name  = local.instance_image_name
  flavor_name = var.agent_flavor
  key_pair    = local.key_pair
  user_data   = module.cloud_init.agent_user_data
  metadata    = { cluster = var.cluster_name, role = "agent" }

  network {
    port = openstack_networking_port_v2.agent[count.index].id
  }

  # Clouds whose flavors have no disk refuse image boot: the root disk is then a volume made from the
  # image, deleted with the node (its data lives in Git and the datastore, not on the disk).
  dynamic "block_device" {
    for_each = local.boot_from_volume
    content {
      uuid                  = block_device.value.image_id
      source_type           = "image"
      destination_type      = "volume"
      volume_size           = block_device.value.size
      boot_index            = 0
      delete_on_termination = true
    }
  }

  lifecycle {
    ignore_changes = [user_data]
  }

  # Joining needs the way out (K3s download) and the K3s rules to the server (6443, flannel, kubelet).
  depends_on = [
    openstack_networking_router_interface_v2.cluster,
    openstack_networking_secgroup_rule_v2.egress,
    openstack_networking_secgroup_rule_v2.cluster,
  ]
}
