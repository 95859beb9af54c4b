# Addresses and ready-to-paste commands. Nothing secret: the kubeconfig and the Argo CD password are
# fetched from the cluster over SSH / the API, never stored in Terraform outputs.

locals {
  public_ip  = openstack_networking_floatingip_v2.server.address
  ssh        = "ssh ${var.ssh_user}@${local.public_ip}"
  kubeconfig = "kubeconfig-${var.cluster_name}"
}

output "server_public_ip" {
  description = "Floating IP of the K3s server: the Kubernetes API, SSH, and the app on 80/443."
  value       = local.public_ip
}

output "server_private_ip" {
  description = "Fixed address of the server on the cluster network (the agents join it there)."
  value       = local.server_private_ip
}

output "kubernetes_api_url" {
  description = "Kubernetes API endpoint (reachable from admin_cidrs only)."
  value       = "https://${local.public_ip}:6443"
}

output "app_url" {
  description = "The stock app, once Argo CD has synced it (Traefik on the floating IP)."
  value       = "http://${local.public_ip}/"
}

output "ssh_command" {
  description = "SSH to the server (from an address in admin_cidrs)."
  value       = local.ssh
}

# For `eval "$(terraform output -raw kubeconfig_command)"` in bash, zsh or sh, so the template holds no
# comments (an interactive zsh does not take them). It works in a subshell, so its exit and umask stay out
# of the user's shell, and without a pipeline, so no failure hides behind another command's status:
# KUBECONFIG is exported only once a kubeconfig naming the floating IP has been written. Right after
# apply the server may refuse SSH and K3s may not have written k3s.yaml yet, so it polls within a bound
# (5 minutes) and then exits non-zero with a message instead of leaving an empty file behind.
output "kubeconfig_command" {
  description = "Writes a working kubeconfig (mode 0600) with the server address instead of 127.0.0.1, waiting up to 5 minutes for K3s; fails loudly."
  value = templatefile("${path.module}/files/fetch-kubeconfig.sh.tftpl", {
    ssh_target       = "${var.ssh_user}@${local.public_ip}"
    public_ip        = local.public_ip
    kubeconfig       = local.kubeconfig
    attempts         = 30
    interval_seconds = 10
  })
}

output "argocd_ui_command" {
  description = "Opens the Argo CD UI on https://localhost:8080 (user admin) through the Kubernetes API."
  value       = "kubectl --namespace argocd port-forward service/argocd-server 8080:443"
}

output "argocd_admin_password_command" {
  description = "Prints Argo CD's initial admin password (change it, then delete the secret)."
  value       = "kubectl --namespace argocd get secret argocd-initial-admin-secret --output jsonpath='{.data.password}' | base64 --decode; echo"
}
