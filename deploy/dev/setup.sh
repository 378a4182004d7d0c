#!/usr/bin/env bash
# setup.sh: install the dev test bed into .cache/ (git-ignored), idempotently.
#
#   setup.sh [all|kafka|java|python|node]...    (default: all)
#
#   kafka   Kafka broker + tools jars        .cache/kafka/<version>/libs
#   java    kafka-clients + Avro harness     .cache/clients/java/<hash>/{lib,classes}
#   python  confluent-kafka venv             .cache/venv
#   node    kafkajs + codecs + registry      .cache/node/node_modules
#
# Each piece carries a stamp: the hash of the files it was built from (pom,
# sources, requirements.txt, package-lock.json). A re-run with unchanged files
# only compares hashes; a changed file rebuilds that piece alone.
# Sourced by clients/run.sh for the paths; run it to install.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

java_src=$dev_dir/clients/java
python_src=$dev_dir/clients/python
node_src=$dev_dir/clients/node

java_hash() {
	hash_files "$java_src/pom.xml" "$java_src"/src/main/java/io/schemaproxy/dev/*.java
}

java_dir() {
	printf '%s/clients/java/%s\n' "$cache_dir" "$(java_hash)"
}

python_dir() {
	printf '%s/venv\n' "$cache_dir"
}

node_dir() {
	printf '%s/node\n' "$cache_dir"
}

setup_java_locked() {
	local hash dir
	hash=$(java_hash)
	dir=$(java_dir)
	stamp_ok "$dir" "$hash" && return 0
	log "building the Java harness into $dir"
	rm -rf "$dir"
	mkdir -p "$dir"
	quietly mvn -q -B -f "$java_src/pom.xml" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$dir/lib"
	javac --release 17 -nowarn -d "$dir/classes" -cp "$dir/lib/*" \
		"$java_src"/src/main/java/io/schemaproxy/dev/*.java >&2
	stamp_set "$dir" "$hash"
	# Older builds of the harness are never used again.
	find "$cache_dir/clients/java" -mindepth 1 -maxdepth 1 ! -name "$hash" -exec rm -rf {} +
}

setup_python_locked() {
	local hash dir
	hash=$(hash_files "$python_src/requirements.txt")
	dir=$(python_dir)
	stamp_ok "$dir" "$hash" && return 0
	log "installing the Python harness's packages into $dir"
	rm -rf "$dir"
	python3 -m venv "$dir"
	quietly "$dir/bin/pip" install -q --disable-pip-version-check --no-input \
		-r "$python_src/requirements.txt"
	stamp_set "$dir" "$hash"
}

setup_node_locked() {
	local hash dir
	hash=$(hash_files "$node_src/package.json" "$node_src/package-lock.json")
	dir=$(node_dir)
	stamp_ok "$dir" "$hash" && return 0
	log "installing the Node harness's packages into $dir"
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$node_src/package.json" "$node_src/package-lock.json" "$dir/"
	(cd "$dir" && quietly npm ci --no-audit --no-fund --loglevel=error)
	stamp_set "$dir" "$hash"
}

setup() {
	local what
	for what in "$@"; do
		case $what in
		all) setup kafka java python node ;;
		kafka) "$dev_dir/kafka.sh" fetch ;;
		java) with_lock java setup_java_locked ;;
		python) with_lock python setup_python_locked ;;
		node) with_lock node setup_node_locked ;;
		*) die "unknown piece $what (want all, kafka, java, python or node)" ;;
		esac
	done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	if [ $# -eq 0 ]; then
		set -- all
	fi
	setup "$@"
fi
