terraform {
  # 1.9 lets a variable's validation refer to other variables (key pair XOR public key).
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    # Credentials come from the usual OS_* variables (openrc.sh) or clouds.yaml with OS_CLOUD, never from
    # code. The 3.x line dropped the compute floating IP and security group resources: this module uses
    # the networking ones. .terraform.lock.hcl pins the exact build once `terraform init` has run.
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "3.4.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.8.1"
    }
    # Makes the K3s server's CA before the server exists, so the agents' join token can pin it.
    tls = {
      source  = "hashicorp/tls"
      version = "4.3.0"
    }
  }

  # State holds the K3s tokens: keep it off laptops once more than one person applies. See README.md,
  # "Remote state", and backend.tf.example.
}

provider "openstack" {}
