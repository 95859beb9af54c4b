# The GitHub workflows (.github/) and the image tag tool they share with people (tools/set_image_tag.py).
# .github/README.md describes the path from a pull request to running pods.

CHECKS += workflows
# k3d: tests/workflows/test_k3d_live.py has the pinned k3d read the k3d job's cluster config.
GO_TOOLS += actionlint k3d

.PHONY: check-workflows set-image

check-workflows: $(VENV)/.stamp ## Workflows: actionlint + shellcheck, GitHub schemas, tag tool, release loop
	@PATH="$(BIN):$$PATH" $(BIN)/pytest -q -p no:cacheprovider tests/workflows

# By hand, what the release workflow does after a push: make set-image IMAGE=stock-backend TAG=sha-0123456789ab
set-image: $(VENV)/.stamp ## Pin an image tag in apps/stock-app/kustomization.yaml (IMAGE=stock-backend TAG=sha-…)
	@$(PY) tools/set_image_tag.py --image "$(IMAGE)" --tag "$(TAG)"
