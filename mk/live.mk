# The GitOps loop on one machine: a real API server and a real Argo CD reconcile this repository, the nodes
# are kwok's (tools/cluster/README.md). Every component is built from source by tools/gotools.py.
# The scenarios (tests/live/README.md) run on the local harness, or on any cluster given LIVE_KUBECONFIG
# and LIVE_GIT_DIR (the k3d job). LIVE_ARGS: extra pytest arguments, e.g. LIVE_ARGS="-k rollout".

# The longest group of `make test`: about 10 min warm, a cold first build of its components over an hour.
CHECKS += live

.PHONY: cluster-up cluster-down cluster-status live check-live watch

LIVE_ARGS ?=
WATCH_ARGS ?=

cluster-up: $(VENV)/.stamp ## Start the local cluster + Argo CD on 127.0.0.1; kubeconfig in .out/cluster/kubeconfig
	$(PY) tools/cluster/cluster.py up

cluster-down: $(VENV)/.stamp ## Stop every process cluster-up started and remove its state
	$(PY) tools/cluster/cluster.py down

cluster-status: $(VENV)/.stamp ## Which processes of the local cluster run
	$(PY) tools/cluster/cluster.py status

live: $(VENV)/.stamp check-live ## Bring a cluster up, run the live scenarios (tests/live), tear it down

check-live: ## The live scenarios: local harness, or the cluster of LIVE_KUBECONFIG (tests/live/README.md)
	$(BIN)/pytest -q -p no:cacheprovider -s --timeout=1800 tests/live $(LIVE_ARGS)

watch: $(VENV)/.stamp ## HPA, Deployments, Pods with nodes, top pods of stock-app every 10 s (any KUBECONFIG)
	$(PY) tools/cluster/watch.py $(WATCH_ARGS)
