# Tests of the root module against mocked OpenStack and random providers; nothing is created in a cloud.
# hashicorp/tls is real (it works offline): each run makes a throwaway server CA, so the join token is
# checked against a real certificate. `make check-terraform` runs them offline against a mirror of the
# providers built from source (tools/terraform_root.py). The cloud-init itself is tested offline in
# modules/k3s-cloud-init/tests.

mock_provider "openstack" {
  mock_data "openstack_networking_network_v2" {
    defaults = {
      id = "00000000-0000-4000-8000-000000000001"
    }
  }
  mock_data "openstack_images_image_v2" {
    defaults = {
      id = "00000000-0000-4000-8000-0000000000aa"
    }
  }
  mock_resource "openstack_networking_floatingip_v2" {
    defaults = {
      address = "203.0.113.10"
    }
  }
}

mock_provider "random" {}

override_resource {
  target = random_password.cluster_token
  values = { result = "ServerToken0123456789abcdefghijklmnopqrstuv" }
}

override_resource {
  target = random_password.agent_token
  values = { result = "AgentToken0123456789abcdefghijklmnopqrstuvw" }
}

variables {
  image_name       = "Ubuntu 24.04"
  server_flavor    = "m1.medium"
  agent_flavor     = "m1.large"
  external_network = "public"
  admin_cidrs      = ["198.51.100.7/32", "192.0.2.0/28"]
  ssh_public_key   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestTestTestTestTestTestTestTestTestTestTest ci@example"
}

run "one_server_and_two_agents_by_default" {
  command = apply

  assert {
    condition     = length(openstack_compute_instance_v2.agent) == 2 && length(openstack_networking_port_v2.agent) == 2
    error_message = "agent_count defaults to two agents, each with its own port."
  }
  assert {
    condition     = one(openstack_networking_port_v2.server.fixed_ip).ip_address == "192.168.42.10"
    error_message = "The server's port must have the fixed address the agents are told about."
  }
  assert {
    condition     = module.cloud_init.agent_k3s_config.server == "https://192.168.42.10:6443"
    error_message = "Agents must join the server's fixed address."
  }
  assert {
    condition     = openstack_networking_floatingip_associate_v2.server.port_id == openstack_networking_port_v2.server.id
    error_message = "The floating IP belongs to the server."
  }
  assert {
    condition     = contains(module.cloud_init.server_k3s_config["tls-san"], "203.0.113.10")
    error_message = "The floating IP must be in the API certificate's SANs."
  }
  assert {
    condition     = endswith(module.cloud_init.agent_k3s_config.token, "::node:AgentToken0123456789abcdefghijklmnopqrstuvw")
    error_message = "Agents must join with the agent token (K3s's user node), not the server token."
  }
  assert {
    condition     = length(openstack_compute_instance_v2.server.user_data) <= 65535
    error_message = "Nova refuses user data above 65535 bytes."
  }
  assert {
    condition     = openstack_compute_instance_v2.server.key_pair == openstack_compute_keypair_v2.admin[0].name
    error_message = "A given public key must become the instances' key pair."
  }
}

# K3s's secure token: an agent pins the server's CA on its first join instead of trusting whatever
# answers on <subnet>.10:6443. K3s hashes a single self-signed CA certificate as the SHA-256 of the bytes
# of server-ca.crt, which /cacerts serves; so the hash must be over exactly the bytes the server's
# cloud-init writes there, and the agents' cloud-init must carry that token.
run "agents_pin_the_server_ca_terraform_made" {
  command = apply

  assert {
    condition     = can(regex("^K10[0-9a-f]{64}::node:AgentToken0123456789abcdefghijklmnopqrstuvw$", module.cloud_init.agent_k3s_config.token))
    error_message = "The agents' token must be K3s's full format, K10<sha256 of the CA>::node:<agent token>."
  }
  assert {
    condition = (
      substr(module.cloud_init.agent_k3s_config.token, 3, 64) ==
      sha256(base64decode(one([
        for f in yamldecode(module.cloud_init.server_cloud_config).write_files : f.content
        if f.path == "/var/lib/rancher/k3s/server/tls/server-ca.crt" && f.encoding == "b64"
      ])))
    )
    error_message = "The token's CA hash must be the SHA-256 of the bytes the server writes to server-ca.crt."
  }
  assert {
    condition = (
      base64decode(one([
        for f in yamldecode(module.cloud_init.server_cloud_config).write_files : f.content
        if f.path == "/var/lib/rancher/k3s/server/tls/server-ca.crt"
      ])) == tls_self_signed_cert.server_ca.cert_pem &&
      one([
        for f in yamldecode(module.cloud_init.server_cloud_config).write_files : f
        if f.path == "/var/lib/rancher/k3s/server/tls/server-ca.key"
      ]) == { path = "/var/lib/rancher/k3s/server/tls/server-ca.key", permissions = "0600", encoding = "b64", content = base64encode(tls_private_key.server_ca.private_key_pem) }
    )
    error_message = "The server must install Terraform's CA certificate, and its key readable by root only, before K3s starts."
  }
  assert {
    condition = (
      yamldecode(one([
        for f in yamldecode(module.cloud_init.agent_cloud_config).write_files : f.content
        if f.path == "/etc/rancher/k3s/config.yaml"
      ])).token == module.cloud_init.agent_k3s_config.token &&
      !strcontains(module.cloud_init.agent_cloud_config, "PRIVATE KEY") &&
      !strcontains(module.cloud_init.agent_cloud_config, base64encode(tls_private_key.server_ca.private_key_pem)) &&
      !strcontains(module.cloud_init.agent_cloud_config, "ServerToken")
    )
    error_message = "The agents' cloud-init must carry the full token in K3s's config, and neither the CA key nor the server token."
  }
  assert {
    condition = (
      tls_self_signed_cert.server_ca.is_ca_certificate &&
      contains(tls_self_signed_cert.server_ca.allowed_uses, "cert_signing") &&
      length(regexall("BEGIN CERTIFICATE", tls_self_signed_cert.server_ca.cert_pem)) == 1
    )
    error_message = "The server CA must be one self-signed CA certificate that may sign (K3s signs the API server's certificate with it)."
  }
}

run "security_group_matches_the_issue" {
  command = apply

  assert {
    condition     = openstack_networking_secgroup_v2.cluster.delete_default_rules
    error_message = "The group must start empty, so that only the rules written here apply."
  }
  assert {
    condition = (
      toset([for r in openstack_networking_secgroup_rule_v2.admin : r.remote_ip_prefix]) == toset(var.admin_cidrs) &&
      toset([for r in openstack_networking_secgroup_rule_v2.admin : r.port_range_min]) == toset([22, 6443]) &&
      length(openstack_networking_secgroup_rule_v2.admin) == 4
    )
    error_message = "SSH and 6443 must be open to every admin CIDR and nothing else."
  }
  assert {
    condition = (
      toset([for r in openstack_networking_secgroup_rule_v2.web : r.port_range_min]) == toset([80, 443]) &&
      alltrue([for r in openstack_networking_secgroup_rule_v2.web : r.remote_ip_prefix == "0.0.0.0/0"])
    )
    error_message = "80 and 443 are the ports open to everyone."
  }
  assert {
    condition = alltrue([
      for r in openstack_networking_secgroup_rule_v2.cluster :
      r.remote_group_id == openstack_networking_secgroup_v2.cluster.id
    ])
    error_message = "K3s's own ports must be open only between members of the group."
  }
}

run "outputs_are_commands_without_secrets" {
  command = apply

  assert {
    condition     = output.kubernetes_api_url == "https://203.0.113.10:6443"
    error_message = "The API URL must use the floating IP."
  }
  assert {
    condition = (
      strcontains(output.kubeconfig_command, "ubuntu@203.0.113.10 \"sudo sed 's/127\\.0\\.0\\.1/203.0.113.10/'") &&
      strcontains(output.kubeconfig_command, "grep -qF 'server: https://203.0.113.10:6443'") &&
      strcontains(output.kubeconfig_command, "gave up after 30 attempts")
    )
    error_message = "The kubeconfig command must fetch k3s.yaml from the server with 127.0.0.1 rewritten to the floating IP, and give up after a bound."
  }
  assert {
    condition = !anytrue([
      for o in [output.kubeconfig_command, output.ssh_command, output.argocd_ui_command, output.argocd_admin_password_command] :
      strcontains(o, "ServerToken") || strcontains(o, "AgentToken")
    ])
    error_message = "No output may contain a token."
  }
}

run "root_app_comes_from_the_cluster_folder_and_git_source" {
  command = apply

  assert {
    condition = (
      module.cloud_init.root_application.spec.source.path == "clusters/prod" &&
      module.cloud_init.root_application.spec.source.repoURL == yamldecode(file("../clusters/components/git-source/git-source.yaml")).data.repoURL
    )
    error_message = "The root app must be clusters/prod's, pulling from git-source's repository."
  }
}

run "existing_key_pair_and_more_agents" {
  command = apply

  variables {
    ssh_public_key = null
    key_pair_name  = "team-key"
    agent_count    = 3
  }

  assert {
    condition     = length(openstack_compute_keypair_v2.admin) == 0 && openstack_compute_instance_v2.agent[2].key_pair == "team-key"
    error_message = "An existing key pair must be used as is."
  }
}

run "dns_and_boot_disk_are_the_clouds_by_default" {
  command = apply

  assert {
    condition     = try(length(openstack_networking_subnet_v2.cluster.dns_nameservers), 0) == 0
    error_message = "Without dns_nameservers the subnet must name no resolver, so Neutron hands out the cloud's own."
  }
  assert {
    condition = alltrue([
      for i in concat([openstack_compute_instance_v2.server], openstack_compute_instance_v2.agent) :
      length(i.block_device) == 0 && i.image_name == "Ubuntu 24.04"
    ])
    error_message = "Without boot_volume_size every node boots from the image, with no block device."
  }
}

run "explicit_dns_resolvers_go_on_the_subnet" {
  command = apply
  variables { dns_nameservers = ["192.0.2.53", "198.51.100.53"] }

  assert {
    condition     = openstack_networking_subnet_v2.cluster.dns_nameservers == tolist(["192.0.2.53", "198.51.100.53"])
    error_message = "Given resolvers must be the subnet's, in order."
  }
}

run "boot_volume_size_boots_every_node_from_a_volume_of_the_image" {
  command = apply
  variables { boot_volume_size = 40 }

  assert {
    condition = alltrue([
      for i in concat([openstack_compute_instance_v2.server], openstack_compute_instance_v2.agent) :
      length(i.block_device) == 1 &&
      i.block_device[0].uuid == "00000000-0000-4000-8000-0000000000aa" &&
      i.block_device[0].source_type == "image" &&
      i.block_device[0].destination_type == "volume" &&
      i.block_device[0].volume_size == 40 &&
      i.block_device[0].boot_index == 0 &&
      i.block_device[0].delete_on_termination
    ])
    error_message = "Every node must boot from a 40 GiB volume made from the image and deleted with it."
  }
  assert {
    condition     = data.openstack_images_image_v2.node[0].name == "Ubuntu 24.04" && data.openstack_images_image_v2.node[0].most_recent
    error_message = "The boot volume's image is image_name (the most recent of that name)."
  }
}

run "ipv6_dns_resolver_is_refused" {
  command = plan
  variables { dns_nameservers = ["2606:4700:4700::1111"] }
  expect_failures = [var.dns_nameservers]
}

run "repeated_dns_resolver_is_refused" {
  command = plan
  variables { dns_nameservers = ["192.0.2.53", "192.0.2.53"] }
  expect_failures = [var.dns_nameservers]
}

run "tiny_boot_volume_is_refused" {
  command = plan
  variables { boot_volume_size = 10 }
  expect_failures = [var.boot_volume_size]
}

run "fractional_boot_volume_is_refused" {
  command = plan
  variables { boot_volume_size = 40.5 }
  expect_failures = [var.boot_volume_size]
}

run "world_open_admin_cidr_is_refused" {
  command = plan
  variables { admin_cidrs = ["0.0.0.0/0"] }
  expect_failures = [var.admin_cidrs]
}

run "no_agents_is_refused" {
  command = plan
  variables { agent_count = 0 }
  expect_failures = [var.agent_count]
}

run "both_key_inputs_are_refused" {
  command = plan
  variables { key_pair_name = "team-key" }
  expect_failures = [var.ssh_public_key]
}

run "subnet_inside_k3s_ranges_is_refused" {
  command = plan
  variables { subnet_cidr = "10.42.8.0/24" }
  expect_failures = [var.subnet_cidr]
}

run "k3s_channel_is_refused" {
  command = plan
  variables { k3s_version = "latest" }
  expect_failures = [var.k3s_version]
}
