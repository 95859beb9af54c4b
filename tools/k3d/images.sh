#!/usr/bin/env bash
# Build every image under images/ with buildx and import it into the k3d cluster under the exact name and
# tag apps/stock-app/kustomization.yaml references, so the pods start from what this commit builds.
#
#   tools/k3d/images.sh build             # docker buildx build --load, per image
#   tools/k3d/images.sh import CLUSTER    # k3d image import into CLUSTER
#
# LIVE_ROLLOUT_TAG (if set) is a second tag of stock-backend: the tag scenario 1 commits and rolls out.
# The name and tag come from tools/set_image_tag.py (the release workflow's reader of the kustomization),
# the image list from the folders under images/ (stock-<folder>, as the release names them).
set -euo pipefail
shopt -s inherit_errexit # a failed command inside $(...) fails the script too

usage() { echo "usage: $0 build | import CLUSTER" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
py=${PY:-.venv/bin/python}
docker=${DOCKER:-docker}
if [[ -n ${LIVE_ROLLOUT_TAG:-} && ! $LIVE_ROLLOUT_TAG =~ ^sha-[0-9a-f]{12}$ ]]; then
  echo "images: LIVE_ROLLOUT_TAG must be sha-<12 hex>, as the release tags, not '$LIVE_ROLLOUT_TAG'" >&2
  exit 2
fi

refs() { # prints "folder reference" per image and tag
  local dockerfile folder image name tag
  for dockerfile in images/*/Dockerfile; do
    folder=$(basename "$(dirname "$dockerfile")")
    image=stock-$folder
    name=$("$py" tools/set_image_tag.py --image "$image" --print-name)
    tag=$("$py" tools/set_image_tag.py --image "$image" --print-tag)
    echo "$folder $name:$tag"
    if [[ $image == stock-backend && -n ${LIVE_ROLLOUT_TAG:-} ]]; then
      echo "$folder $name:$LIVE_ROLLOUT_TAG"
    fi
  done
}

# A failure inside refs (an image the kustomization does not list) must stop the script: an assignment
# from $(...) carries its status, a process substitution would not.
listing=$(refs)
[[ -n $listing ]] || { echo "images: no images/*/Dockerfile" >&2; exit 1; }

case $1 in
  build)
    [[ $# -eq 1 ]] || usage
    declare -A tags=()
    while read -r folder ref; do tags[$folder]+=" --tag $ref"; done <<<"$listing"
    for folder in "${!tags[@]}"; do
      # shellcheck disable=SC2086 # the --tag options are split on purpose
      "$docker" buildx build --load ${tags[$folder]} "images/$folder"
    done
    ;;
  import)
    [[ $# -eq 2 ]] || usage
    k3d=${K3D:-$("$py" tools/gotools.py path k3d)}
    mapfile -t references < <(cut -d' ' -f2 <<<"$listing")
    "$k3d" image import --cluster "$2" "${references[@]}"
    ;;
  *) usage ;;
esac
