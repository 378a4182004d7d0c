#!/usr/bin/env bash
# run.sh: run one client harness, installing it first if its stamp is stale.
#
#   run.sh java|python|node|go --bootstrap HOST:PORT --topic T [flags...]
#
# Every harness takes the same flags and prints one JSON object per line on
# stdout; see deploy/dev/README.md. Diagnostics go to stderr.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"

[ $# -ge 1 ] || die "name a client: java, python, node or go"
client=$1
shift
case $client in
java)
	setup java
	dir=$(java_dir)
	exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
		-cp "$dir/classes:$dir/lib/*" io.schemaproxy.dev.Harness "$@"
	;;
python)
	setup python
	exec "$(python_dir)/bin/python" "$python_src/harness.py" "$@"
	;;
node)
	setup node
	NODE_PATH=$(node_dir)/node_modules exec node "$node_src/harness.js" "$@"
	;;
go)
	cd "$root_dir"
	exec go run ./deploy/dev/clients/go "$@"
	;;
*) die "unknown client $client (want java, python, node or go)" ;;
esac
