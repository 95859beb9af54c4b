# The container images (images/*/Dockerfile) built and run here with podman, as the cluster runs them.
# CI builds them with docker buildx on GitHub; this is the local counterpart (see tools/images/README.md).

CHECKS += images
GO_TOOLS += syft

# runc, not crun, and ulimits within the host's hard limits: tools/images/containers.conf.
export CONTAINERS_CONF := $(CURDIR)/tools/images/containers.conf

.PHONY: images check-images

images: $(VENV)/.stamp ## Build both images with podman as localhost/stock-{backend,frontend}:dev (base: a local stand-in)
	$(PY) tools/images/build.py

check-images: images
	$(BIN)/pytest -q -rP -p no:cacheprovider tests/images
