#!/usr/bin/env bash
# Installs K3s at an exact release in the given role. cloud-init runs it once, on first boot, after it
# has written /etc/rancher/k3s/config.yaml (every K3s setting lives there, none on this command line).
set -euo pipefail

usage() {
  echo "usage: $0 server|agent <exact K3s release, vX.Y.Z+k3sN>" >&2
  exit 64
}

[[ $# -eq 2 ]] || usage
role=$1
version=$2
[[ $role == server || $role == agent ]] || usage
[[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$ ]] || usage

# The installer is fetched from the same release tag as the binary it installs (which it checks
# against the release's sha256sum file), so the script is pinned too, not whatever get.k3s.io serves.
installer_url="https://raw.githubusercontent.com/k3s-io/k3s/${version/+/%2B}/install.sh"
installer=$(mktemp)
trap 'rm -f "$installer"' EXIT

# On first boot the network and DNS may still be settling: retry rather than leave a dead node.
curl --fail --silent --show-error --location --retry 30 --retry-delay 10 --retry-all-errors \
  --output "$installer" "$installer_url"

for attempt in 1 2 3 4 5; do
  if INSTALL_K3S_VERSION=$version INSTALL_K3S_EXEC=$role sh "$installer"; then
    exit 0
  fi
  echo "K3s $version ($role) install attempt $attempt failed; retrying" >&2
  sleep $((attempt * 15))
done
echo "K3s $version ($role) could not be installed; see /var/log/cloud-init-output.log" >&2
exit 1
