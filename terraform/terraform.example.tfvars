# Copy to terraform.tfvars (git-ignored) and fill in for your cloud:
#   cp terraform.example.tfvars terraform.tfvars
# `openstack image list`, `openstack flavor list` and `openstack network list --external` show the names.

image_name       = "Ubuntu 24.04"
server_flavor    = "m1.medium"
agent_flavor     = "m1.large"
external_network = "public"

# Your own address, so that only you can reach SSH and the Kubernetes API (curl -4 ifconfig.me).
admin_cidrs = ["198.51.100.7/32"]

# Either upload a public key ...
ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample you@laptop"
# ... or use a key pair that already exists in the project:
# key_pair_name = "my-key"

# Optional; the defaults are shown.
# cluster_name         = "stock"
# agent_count          = 2
# subnet_cidr          = "192.168.42.0/24"
# dns_nameservers      = []   # the cloud's own resolver; or e.g. ["192.0.2.53"]
# boot_volume_size     = null # boot from the image; a number of GiB (e.g. 40) boots from a volume
# ssh_user             = "ubuntu"
# k3s_version and argocd_chart_version: their defaults in variables.tf are the cluster's pins; set
# them here only to try another release (an exact one: "vX.Y.Z+k3sN", "X.Y.Z").
# cluster_path         = "clusters/prod"

# The repository and branch Argo CD pulls from are not variables: edit, commit and push
# clusters/components/git-source/git-source.yaml before `terraform apply` (README.md, "A fork").
