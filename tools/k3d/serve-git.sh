#!/usr/bin/env bash
# Serve the bare repositories under DIR read-only over git:// (git daemon), for Argo CD inside k3d.
#
#   tools/k3d/serve-git.sh ADDRESS PORT DIR PIDFILE
#
# Returns once `git ls-remote` gets an answer through the daemon (or fails after 30 s); stop it with
# `kill "$(cat PIDFILE)"`. Pushes go to the bare repository's path directly (LIVE_GIT_DIR's origin),
# never through the daemon, so receive-pack stays off.
set -euo pipefail

[[ $# -eq 4 ]] || { echo "usage: $0 ADDRESS PORT DIR PIDFILE" >&2; exit 2; }
address=$1 port=$2 dir=$3 pidfile=$4
if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
  echo "serve-git: PORT must be 1-65535, not '$port'" >&2
  exit 2
fi
[[ -d $dir ]] || { echo "serve-git: $dir is not a folder" >&2; exit 2; }
repo=$(find "$dir" -mindepth 1 -maxdepth 1 -type d -name '*.git' -print -quit)
[[ -n $repo ]] || { echo "serve-git: no bare repository (*.git) in $dir" >&2; exit 2; }
dir=$(cd "$dir" && pwd)
url="git://$address:$port/$(basename "$repo")"

git daemon --detach --reuseaddr --export-all --pid-file="$pidfile" \
  --base-path="$dir" --listen="$address" --port="$port" "$dir"

# The daemon forks and listens a moment later: poll for an answer, with a deadline.
deadline=$((SECONDS + 30))
until git ls-remote --quiet "$url" HEAD >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then
    echo "serve-git: $url did not answer within 30 s" >&2
    [[ -s $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null
    exit 1
  fi
  sleep 0.2
done
echo "serve-git: $url (git daemon pid $(cat "$pidfile"))"
