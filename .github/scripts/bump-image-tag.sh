#!/usr/bin/env bash
# Commit a new image tag to the deployment branch: what the release workflow does once an image is
# pushed, so that the commit is the rollout. Runs from a clean clone (CI's checkout); the tests run it
# against a local bare repository.
#
#   .github/scripts/bump-image-tag.sh --image stock-backend --tag sha-0123456789ab \
#     [--mode push|pull-request] [--validate 'make validate'] [--remote origin] [--branch main]
#     [--attempts 5] [--body 'Built by ...']
#
# push:          commit on top of the branch and push. If someone pushed in between (git refuses the
#                push as not a fast-forward), fetch the new tip, apply the edit again there (a rebase of
#                a one-line change that can never conflict), re-validate, and retry, at most --attempts
#                times. Any other refusal (protected branch, no write access, network) fails at once
#                with git's message and what to do.
# pull-request:  push the commit to deploy/<image> and open (or update) a pull request with `gh`, for a
#                branch that only accepts reviewed changes. One open pull request per image; a newer
#                build replaces the older one on the same branch.
#
# A tag sha-<12 hex> names the commit the image was built from. If the branch already runs a build of a
# later commit (releases can finish out of order), the older build is not deployed; in pull-request mode
# neither does it replace an open pull request that proposes a build of a later commit.
#
# Environment: PYTHON (default python3) runs tools/set_image_tag.py; BUMP_RETRY_DELAY (seconds, default
# 5) spaces the retries; GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL override the bot identity.
set -euo pipefail

usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }
fail() { echo "bump-image-tag: $*" >&2; exit 2; }

image="" tag="" mode=push validate="" remote=origin branch=main attempts=5 body=""
while (($#)); do
  case $1 in
    --image | --tag | --mode | --validate | --remote | --branch | --attempts | --body)
      (($# >= 2)) || fail "$1 needs a value"
      declare "${1#--}=$2"
      shift 2
      ;;
    -h | --help) usage; exit 0 ;;
    *) fail "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n $image && -n $tag ]] || fail "--image and --tag are required (see --help)"
[[ $mode == push || $mode == pull-request ]] || fail "--mode is push or pull-request, not '$mode'"
[[ $attempts =~ ^[1-9][0-9]*$ ]] || fail "--attempts must be a positive number, not '$attempts'"

cd "$(git rev-parse --show-toplevel)"
if ! git diff --quiet || ! git diff --cached --quiet; then
  fail "the working tree has uncommitted changes; run this in a clean clone"
fi

tag_tool=("${PYTHON:-python3}" tools/set_image_tag.py --image "$image")
bot_name=${GIT_AUTHOR_NAME:-github-actions[bot]}
bot_email=${GIT_AUTHOR_EMAIL:-41898282+github-actions[bot]@users.noreply.github.com}
subject="Deploy $image $tag"

# The commit a sha-<12 hex> tag was built from, if this clone has it.
commit_of() {
  [[ $1 =~ ^sha-([0-9a-f]{12})$ ]] && git rev-parse --quiet --verify "${BASH_REMATCH[1]}^{commit}"
}

# True when tag $1 was built from a later commit than tag $2 (both sha-<12 hex>, $2 an ancestor of $1).
built_later() {
  local later earlier
  later=$(commit_of "$1") && earlier=$(commit_of "$2") &&
    [[ $later != "$earlier" ]] && git merge-base --is-ancestor "$earlier" "$later"
}

# Push HEAD to the branch. Returns 1 only when git refused it as not a fast-forward (someone pushed in
# between: worth another round). Any other refusal (a protected branch: GH006/GH013, a token without
# write access: 403, a hook, the network) would fail the same way every round, so it ends the script
# with git's own words and what to do.
push_to_branch() {
  local report errors status=0
  errors=$(mktemp)
  report=$(git push --porcelain "$remote" "HEAD:refs/heads/$branch" 2>"$errors") || status=$?
  if ((status == 0)); then
    rm -f "$errors"
    return 0
  fi
  # --porcelain: "!<TAB>HEAD:refs/heads/main<TAB>[rejected] (fetch first)" for a branch that had moved
  # before the push; one that moves during it is refused by the server as "cannot lock ref 'refs/heads/
  # main': is at <new> but expected <old>".
  if grep -qE $'^!\t[^\t]*\t\\[rejected\\] \\((fetch first|non-fast-forward)\\)' <<<"$report" ||
    grep -qE "cannot lock ref '[^']*': is at [0-9a-f]+ but expected [0-9a-f]+" "$errors"; then
    rm -f "$errors"
    return 1
  fi
  {
    echo "bump-image-tag: git push to $branch failed, and retrying cannot help:"
    sed 's/^/  /' "$errors"
    grep -E $'^!\t' <<<"$report" | sed 's/^/  /' || true
    # Two greps, not `cat | grep -q`: grep -q exits at the first match, and under pipefail cat's SIGPIPE
    # would then make the whole test false now and then.
    protected='GH006|GH013|protected branch|[Rr]epository rule'
    if grep -qE "$protected" "$errors" || grep -qE "$protected" <<<"$report"; then
      echo "$branch is protected: store a token that may bypass its rules in the DEPLOY_TOKEN secret, or"
      echo "set the repository variable DEPLOY_MODE=pull-request (see .github/README.md, What a fork configures)."
    elif grep -qE '403|[Pp]ermission .* denied|not permitted|Write access' "$errors"; then
      echo "The token may not push: the job needs 'contents: write', and a DEPLOY_TOKEN needs Contents"
      echo "read and write on this repository (see .github/README.md, What a fork configures)."
    fi
  } >&2
  rm -f "$errors"
  exit 1
}

for ((attempt = 1; attempt <= attempts; attempt++)); do
  git fetch --quiet "$remote" "$branch"
  git checkout --quiet --detach FETCH_HEAD

  current=$("${tag_tool[@]}" --print-tag)
  if built_later "$current" "$tag"; then
    echo "$image already runs $current, built from a later commit than $tag; leaving it"
    exit 0
  fi

  "${tag_tool[@]}" --tag "$tag"
  if git diff --quiet; then
    exit 0
  fi
  mapfile -t changed < <(git diff --name-only)
  ((${#changed[@]} == 1)) || fail "expected the tag tool to change one file, it changed: ${changed[*]}"
  if [[ -n $validate ]]; then
    echo "Validating the manifests: $validate"
    bash -c "$validate"
  fi
  # A tag refused by the tool (unknown image, malformed tag) stopped the script above: set -e, exit 2.
  git -c user.name="$bot_name" -c user.email="$bot_email" commit --quiet \
    -m "$subject" ${body:+-m "$body"} -- "${changed[0]}"

  if [[ $mode == pull-request ]]; then
    deploy_branch="deploy/$image"
    # The pull request of another release may already propose a build of a later commit.
    if git fetch --quiet "$remote" "refs/heads/$deploy_branch" 2>/dev/null; then
      proposed_file=$(mktemp)
      git show "FETCH_HEAD:${changed[0]}" >"$proposed_file"
      proposed=$("${tag_tool[@]}" --file "$proposed_file" --print-tag)
      rm -f "$proposed_file"
      if built_later "$proposed" "$tag"; then
        echo "$deploy_branch already proposes $proposed, built from a later commit than $tag; leaving it"
        exit 0
      fi
    fi
    git push --quiet --force "$remote" "HEAD:refs/heads/$deploy_branch"
    pr_body="${body:-Sets $image to $tag.} Merging this rolls it out; closing it leaves the running version."
    if [[ -n $(gh pr list --head "$deploy_branch" --base "$branch" --state open --json number --jq '.[]') ]]; then
      gh pr edit "$deploy_branch" --title "$subject" --body "$pr_body"
      echo "Updated the open pull request from $deploy_branch: $subject"
    else
      gh pr create --head "$deploy_branch" --base "$branch" --title "$subject" --body "$pr_body"
    fi
    exit 0
  fi

  if push_to_branch; then
    echo "Pushed to $branch: $subject ($(git rev-parse --short=12 HEAD))"
    exit 0
  fi
  echo "Push rejected (attempt $attempt of $attempts): $branch moved on; applying the tag again on its new tip"
  if ((attempt < attempts)); then
    sleep $((${BUMP_RETRY_DELAY:-5} * attempt))
  fi
done
echo "bump-image-tag: gave up after $attempts attempts; $branch kept moving" >&2
exit 1
