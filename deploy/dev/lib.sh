# shellcheck shell=bash
# Shared by the deploy/dev scripts; sourced, never run.
#
# Sets:
#   dev_dir    deploy/dev
#   root_dir   repository root
#   cache_dir  $SCHEMAPROXY_CACHE, defaulting to <root>/.cache (git-ignored)
# Every install keyed on a stamp: a directory is reused only while the hash of
# the files it was built from is unchanged.

dev_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root_dir=$(cd "$dev_dir/../.." && pwd)
cache_dir=${SCHEMAPROXY_CACHE:-$root_dir/.cache}

die() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

log() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
}

# hash_files FILE... prints the first 16 hex digits of the SHA-256 over the
# files' names and contents, so renaming a file changes the hash too.
hash_files() {
	local f
	for f in "$@"; do
		printf '%s\n' "${f##*/}"
		cat "$f"
	done | sha256sum | cut -c1-16
}

# quietly CMD... runs CMD with its output held back, and shows it on stderr
# only if CMD fails (Maven prints colour codes even when quiet).
quietly() {
	local out rc=0
	out=$(mktemp)
	"$@" >"$out" 2>&1 || rc=$?
	[ $rc -eq 0 ] || cat "$out" >&2
	rm -f "$out"
	return $rc
}

# stamp_ok DIR HASH succeeds when DIR was completed for HASH.
stamp_ok() {
	[ -f "$1/.stamp" ] && [ "$(cat "$1/.stamp")" = "$2" ]
}

# stamp_set DIR HASH marks DIR complete for HASH; call it last.
stamp_set() {
	printf '%s\n' "$2" >"$1/.stamp"
}

# with_lock NAME CMD... runs CMD holding an exclusive lock, so concurrent
# installs of the same thing (parallel tests, two shells) do the work once.
with_lock() {
	local name=$1
	shift
	mkdir -p "$cache_dir"
	(
		flock 9
		"$@"
	) 9>"$cache_dir/.$name.lock"
}
