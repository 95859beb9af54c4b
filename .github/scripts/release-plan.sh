#!/usr/bin/env bash
# Print the images a workflow should build, as a JSON list for its matrix:
#   [{"dir":"backend","image":"stock-backend","name":"ghcr.io/stock-gitops/stock-backend","registry":"ghcr.io"}]
# An image is a folder images/<dir>/ with a Dockerfile; the manifests call it stock-<dir>, and its
# registry/name comes from the one kustomization that sets it (tools/set_image_tag.py --print-name), so
# a new image needs a folder and a kustomization entry, never a workflow edit.
#
#   .github/scripts/release-plan.sh [BASE | --since-deployed]
#
# With BASE, only the images with a file changed since BASE (compared from the merge base, as a pull
# request would show it); without it, or with a BASE this clone does not have (a manual run, a new
# branch, the all-zero `before` of a first push), all of them. PYTHON (default python3) runs the tool.
#
# --since-deployed (the release): each image whose folder differs from the commit its deployed tag
# (sha-<12 hex> in the kustomization) was built from, or whose tag names no commit of this clone (the
# first release). Not "changed by this push": a push whose CI failed is never released, and its image
# changes must still go out with the next push that passes, whatever that one changes.
#
# RELEASE_OWNER (the release workflow sets it to the repository's owner) also checks, before anything is
# built, that every image can be pushed: a registry name in lower case only, and, unless
# REGISTRY_CREDENTIALS=true (the REGISTRY_USERNAME/REGISTRY_PASSWORD secrets are set), a GHCR name under
# that owner, because the built-in GITHUB_TOKEN writes only its own owner's packages; any other registry
# needs those secrets. A fork that has not changed newName fails here, with the fix, instead of with a
# 403 after the build and the scan.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
base=${1:-}

dirs=()
for dockerfile in images/*/Dockerfile; do
  [[ -f $dockerfile ]] || continue
  dir=${dockerfile#images/}
  dirs+=("${dir%/Dockerfile}")
done

if [[ $base == --since-deployed ]]; then
  kept=()
  for dir in "${dirs[@]}"; do
    deployed=$("${PYTHON:-python3}" tools/set_image_tag.py --image "stock-$dir" --print-tag)
    if [[ $deployed =~ ^sha-([0-9a-f]{12})$ ]] &&
      built_from=$(git rev-parse --quiet --verify "${BASH_REMATCH[1]}^{commit}") &&
      git diff --quiet "$built_from" HEAD -- "images/$dir/"; then
      continue
    fi
    kept+=("$dir")
  done
  dirs=("${kept[@]}")
elif [[ -n $base && ! $base =~ ^0+$ ]] && git rev-parse --quiet --verify "$base^{commit}" >/dev/null; then
  changed=" $(git diff --name-only "$base...HEAD" -- images/ | cut -d/ -f2 | sort -u | tr '\n' ' ')"
  kept=()
  for dir in "${dirs[@]}"; do
    if [[ $changed == *" $dir "* ]]; then kept+=("$dir"); fi
  done
  dirs=("${kept[@]}")
fi

kustomization=apps/stock-app/kustomization.yaml
refuse() {
  if [[ ${GITHUB_ACTIONS:-} == true ]]; then echo "::error file=$kustomization::$*" >&2; fi
  echo "release-plan: $*" >&2
  exit 2
}

# Can the release push $2 (the registry/name of image $1)? See RELEASE_OWNER above.
check_pushable() {
  local image=$1 name=$2 registry=$3 owner
  owner=${RELEASE_OWNER,,}
  if [[ $name != "${name,,}" ]]; then
    refuse "newName of $image is '$name'; registries take only lower-case names: write '${name,,}'" \
      "in $kustomization"
  fi
  if [[ ${REGISTRY_CREDENTIALS:-false} == true ]]; then return 0; fi
  if [[ $registry == ghcr.io ]]; then
    local namespace=${name#ghcr.io/}
    namespace=${namespace%%/*}
    if [[ $namespace != "$owner" ]]; then
      refuse "$image would be pushed to $name, but this repository's GITHUB_TOKEN can push only to" \
        "ghcr.io/$owner/: set newName of every image in $kustomization to ghcr.io/$owner/<image>" \
        "(the fork step in .github/README.md), or store credentials that may push to ghcr.io/$namespace" \
        "in the REGISTRY_USERNAME and REGISTRY_PASSWORD secrets"
    fi
  else
    refuse "$image would be pushed to $registry, which needs the repository secrets REGISTRY_USERNAME" \
      "and REGISTRY_PASSWORD (a token that may push $name); or use ghcr.io/$owner/$image in $kustomization"
  fi
}

entries=()
for dir in "${dirs[@]}"; do
  tool=("${PYTHON:-python3}" tools/set_image_tag.py --image "stock-$dir")
  name=$("${tool[@]}" --print-name)
  registry=$("${tool[@]}" --print-registry)
  if [[ -n ${RELEASE_OWNER:-} ]]; then check_pushable "stock-$dir" "$name" "$registry"; fi
  entries+=("{\"dir\":\"$dir\",\"image\":\"stock-$dir\",\"name\":\"$name\",\"registry\":\"$registry\"}")
done
(
  IFS=,
  echo "[${entries[*]}]"
)
