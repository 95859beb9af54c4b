module stock-gitops/tools/cluster/crds

go 1.25.0

require (
	github.com/k3s-io/helm-controller v0.16.27
	github.com/traefik/traefik/v3 v3.6.12
)
