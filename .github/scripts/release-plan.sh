#!/usr/bin/env bash
# Print the images a workflow should build, as a JSON list for its matrix:
#   [{"dir":"backend","image":"stock-backend","name":"ghcr.io/stock-gitops/stock-backend","registry":"ghcr.io"}]
# An image is a folder images/<dir>/ with a Dockerfile; the manifests call it stock-<dir>, and its
# registry/name comes from the one kustomization that sets it (tools/set_image_tag.py --print-name), so
# a new image needs a folder and a kustomization entry, never a workflow edit.
#
#   .github/scripts/release-plan.sh [BASE]
#
# With BASE, only the images with a file changed since BASE (compared from the merge base, as a pull
# request would show it); without it, or with a BASE this clone does not have (a manual run, a new
# branch, the all-zero `before` of a first push), all of them. PYTHON (default python3) runs the tool.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
base=${1:-}

dirs=()
for dockerfile in images/*/Dockerfile; do
  [[ -f $dockerfile ]] || continue
  dir=${dockerfile#images/}
  dirs+=("${dir%/Dockerfile}")
done

if [[ -n $base && ! $base =~ ^0+$ ]] && git rev-parse --quiet --verify "$base^{commit}" >/dev/null; then
  changed=" $(git diff --name-only "$base...HEAD" -- images/ | cut -d/ -f2 | sort -u | tr '\n' ' ')"
  kept=()
  for dir in "${dirs[@]}"; do
    if [[ $changed == *" $dir "* ]]; then kept+=("$dir"); fi
  done
  dirs=("${kept[@]}")
fi

entries=()
for dir in "${dirs[@]}"; do
  tool=("${PYTHON:-python3}" tools/set_image_tag.py --image "stock-$dir")
  name=$("${tool[@]}" --print-name)
  registry=$("${tool[@]}" --print-registry)
  entries+=("{\"dir\":\"$dir\",\"image\":\"stock-$dir\",\"name\":\"$name\",\"registry\":\"$registry\"}")
done
(
  IFS=,
  echo "[${entries[*]}]"
)
