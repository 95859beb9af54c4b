# The GitOps tree (apps/, platform/, clusters/): render it the way Argo CD would and validate the result.
# tools/gitops/README.md describes the renderer and the checks.

CHECKS += gitops
GO_TOOLS += kubeconform

CLUSTER ?= prod
# Every cluster folder with a root Application; check-gitops validates them all.
CLUSTERS = $(patsubst clusters/%/root-app.yaml,%,$(wildcard clusters/*/root-app.yaml))
GITOPS_OUT := $(OUT)/gitops

# The ONE definition of kubeconform's flags; `make validate` and check-gitops (hence CI) run kubeconform
# with them, built from tools/go/kubeconform. tools/gitops/validate.py adds the Kubernetes version (from
# terraform/variables.tf) and the location of the built-in kinds' schemas, generated offline from
# kubernetes-validate's; CRDs come from our own strict schemas. No -ignore-missing-schemas: a kind
# without a schema fails.
KUBECONFORM_FLAGS := -strict -summary -output text \
	-schema-location 'tools/gitops/schemas/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'

.PHONY: render validate check-gitops print-kubeconform-flags

render: $(VENV)/.stamp ## Print every resource Argo CD would apply (CLUSTER=prod), app by app
	@$(PY) -m tools.gitops.render --cluster $(CLUSTER) --out-dir $(GITOPS_OUT)/$(CLUSTER)

validate: $(VENV)/.stamp ## Validate what Argo CD would apply: K8s + CRD schemas, cross-refs, kubeconform -strict
	@$(PY) -m tools.gitops.validate --cluster $(CLUSTER) --kubeconform-flags "$(KUBECONFORM_FLAGS)"

print-kubeconform-flags:
	@echo "$(KUBECONFORM_FLAGS)"

check-gitops:
	$(PY) -m pytest -q tests/gitops
	@for cluster in $(CLUSTERS); do \
		$(PY) -m tools.gitops.validate --cluster $$cluster --kubeconform-flags "$(KUBECONFORM_FLAGS)"; \
		$(PY) -m tools.gitops.render --cluster $$cluster --out-dir $(GITOPS_OUT)/$$cluster >/dev/null; \
		echo "checkov over the rendered $$cluster manifests"; \
		$(CHECKOV) --skip-download --framework kubernetes --quiet --compact -d $(GITOPS_OUT)/$$cluster; \
		echo "checkov: no failures in $$cluster (skips are annotated on the resources)"; \
	done
