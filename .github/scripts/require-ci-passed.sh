#!/usr/bin/env bash
# Succeed only if the commit's `CI result` check passed: what a manual release run asks before it builds
# anything, since it does not come after CI the way a push's release does (ci.yaml calls release.yaml).
#
#   .github/scripts/require-ci-passed.sh <commit>
#
# Reads the commit's check runs with `gh api` (GH_TOKEN; the job needs `checks: read`). CHECK_NAME
# (default `CI result`, the job branch protection requires) names the check.
set -euo pipefail

fail() { echo "require-ci-passed: $*" >&2; exit 1; }
if (($# != 1)) || [[ ! $1 =~ ^[0-9a-f]{40}$ ]]; then
  echo "usage: $0 <40-hex commit>" >&2
  exit 2
fi
commit=$1
check=${CHECK_NAME:-CI result}
repository=${GITHUB_REPOSITORY:?GITHUB_REPOSITORY is not set (the owner/name to ask about)}

# The newest run of the check decides (a re-run replaces a failed one).
if ! runs=$(gh api --paginate "repos/$repository/commits/$commit/check-runs?check_name=${check// /%20}" \
  --jq '.check_runs[] | [.started_at, .status, (.conclusion // "none")] | @tsv'); then
  fail "cannot read the check runs of $commit (see gh's message above)"
fi
latest=$(sort -r <<<"$runs" | head -n 1)
if [[ -z $latest ]]; then
  fail "commit $commit has no '$check' check: CI has not run on it. Push it (or run CI on main by" \
    "hand: Actions, CI, Run workflow), wait for it to pass, then run the release again."
fi
IFS=$'\t' read -r _ status conclusion <<<"$latest"
if [[ $status != completed ]]; then
  fail "'$check' of $commit is still $status: run the release again once it has passed."
fi
if [[ $conclusion != success ]]; then
  fail "'$check' of $commit ended as $conclusion: fix main (CI's failed jobs say what broke)," \
    "then release the commit whose CI passed."
fi
echo "'$check' passed on $commit"
