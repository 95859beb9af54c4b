# The GitOps loop on one machine: a real API server and a real Argo CD reconcile this repository, the nodes
# are kwok's (tools/cluster/README.md). Every component is built from source by tools/gotools.py.

.PHONY: cluster-up cluster-down cluster-status live check-live

cluster-up: $(VENV)/.stamp ## Start the local cluster + Argo CD on 127.0.0.1; kubeconfig in .out/cluster/kubeconfig
	$(PY) tools/cluster/cluster.py up

cluster-down: $(VENV)/.stamp ## Stop every process cluster-up started and remove its state
	$(PY) tools/cluster/cluster.py down

cluster-status: $(VENV)/.stamp ## Which processes of the local cluster run
	$(PY) tools/cluster/cluster.py status

live: $(VENV)/.stamp check-live ## Bring a cluster up, run the live scenarios (tests/live), tear it down

check-live:
	$(BIN)/pytest -q -p no:cacheprovider -s --timeout=1800 tests/live
