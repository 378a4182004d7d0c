#!/usr/bin/env bash
# kafka.sh: a single-node Apache Kafka 4.x (KRaft, combined broker+controller)
# on 127.0.0.1 for development and the integration tests.
#
#   kafka.sh fetch
#       Lay the broker and tools jars pinned in kafka/pom.xml into
#       .cache/kafka/<version>/libs (once per pom content).
#   kafka.sh start --dir DIR --mode plaintext|sasl|ssl [--port P] [--controller-port C]
#                  [--timeout SECONDS] [--owner PID]
#       Write DIR/server.properties, format DIR/data, start the broker in the
#       background and wait until it answers. Writes DIR/pid, DIR/bootstrap
#       (host:port) and DIR/server.log; ssl mode also DIR/ca.pem. Ports default
#       to free ones; the timeout to 90 s. With --owner, the broker is stopped
#       once process PID is gone (a test binary that crashed or timed out).
#   kafka.sh start --dir DIR --reuse [--timeout SECONDS] [--owner PID]
#       Start a stopped broker again from DIR as it was: same config, ports,
#       certificates, data and users.
#   kafka.sh stop --dir DIR
#       SIGTERM the broker started in DIR, SIGKILL after 30 s.
#   kafka.sh tool NAME [ARGS...]
#       Run a Kafka command-line tool with the cached jars: producer-perf-test,
#       consumer-perf-test, topics, consumer-groups, broker-api-versions,
#       configs, or a fully qualified main class.
#   kafka.sh version
#       Print the pinned Kafka version.
#
# Users in sasl mode (SCRAM-SHA-512 and PLAIN alike): alice/alice-secret for
# clients, admin/admin-secret for inter-broker traffic. No authorizer is set,
# so every authenticated user may do everything.
# Environment: KAFKA_HEAP_OPTS (default -Xms128m -Xmx512m), KAFKA_JVM_OPTS.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pom=$dev_dir/kafka/pom.xml
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
[ -n "$version" ] || die "no <kafka.version> in $pom"
kafka_home=$cache_dir/kafka/$version
libs=$kafka_home/libs

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

fetch_locked() {
	local hash
	hash=$(hash_files "$pom")
	if stamp_ok "$kafka_home" "$hash" && [ -d "$libs" ]; then
		return 0
	fi
	log "fetching Apache Kafka $version jars into $libs"
	rm -rf "$kafka_home"
	mkdir -p "$kafka_home"
	quietly mvn -q -B -f "$pom" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$libs.tmp"
	mv "$libs.tmp" "$libs"
	stamp_set "$kafka_home" "$hash"
}

fetch() {
	with_lock kafka fetch_locked
}

# free_ports N prints N distinct free TCP ports on 127.0.0.1, chosen by the
# kernel while all N sockets are held open.
free_ports() {
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# cluster_id prints a random Kafka Uuid: 16 bytes, URL-safe base64, unpadded,
# not starting with '-' (Kafka's own Uuid.randomUuid rule, for CLI safety).
cluster_id() {
	python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if not s.startswith("-"):
        print(s)
        break'
}

# make_tls DIR writes a throwaway CA (DIR/ca.pem) and a broker key and
# certificate for 127.0.0.1 and localhost signed by it, as one PEM key store
# (DIR/tls/broker.pem: unencrypted PKCS#8 key, then the chain).
make_tls() {
	local dir=$1 tls=$1/tls
	rm -rf "$tls"
	mkdir -p "$tls"
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -keyout "$tls/ca.key" -out "$dir/ca.pem" -days 30 \
		-subj "/CN=schemaproxy dev CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	openssl req "${ec[@]}" -keyout "$tls/broker.key" -out "$tls/broker.csr" -subj "/CN=127.0.0.1" 2>/dev/null
	printf '%s\n' subjectAltName=IP:127.0.0.1,DNS:localhost keyUsage=critical,digitalSignature \
		extendedKeyUsage=serverAuth >"$tls/broker.ext"
	openssl x509 -req -in "$tls/broker.csr" -CA "$dir/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -CAserial "$tls/ca.srl" \
		-days 30 -extfile "$tls/broker.ext" -out "$tls/broker.crt" 2>/dev/null
	cat "$tls/broker.key" "$tls/broker.crt" "$dir/ca.pem" >"$tls/broker.pem"
}

# write_config DIR MODE PORT CPORT writes DIR/server.properties.
write_config() {
	local dir=$1 mode=$2 port=$3 cport=$4 proto
	case $mode in
	plaintext) proto=PLAINTEXT ;;
	sasl) proto=SASL_PLAINTEXT ;;
	ssl) proto=SSL ;;
	*) die "unknown --mode $mode (want plaintext, sasl or ssl)" ;;
	esac
	{
		cat <<EOF
# Written by deploy/dev/kafka.sh start --mode $mode
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
controller.listener.names=CONTROLLER
listeners=$proto://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$proto://127.0.0.1:$port
listener.security.protocol.map=$proto:$proto,CONTROLLER:PLAINTEXT
inter.broker.listener.name=$proto
log.dirs=$dir/data

# One node: every internal topic with one replica.
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=true

# Fast groups for tests: no join delay for classic groups, and KIP-848
# (group.protocol=consumer) heartbeats every second instead of every five.
group.initial.rebalance.delay.ms=0
group.consumer.min.heartbeat.interval.ms=500
group.consumer.heartbeat.interval.ms=1000
EOF
		case $mode in
		sasl)
			cat <<EOF

sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";
EOF
			;;
		ssl)
			cat <<EOF

ssl.keystore.type=PEM
ssl.keystore.location=$dir/tls/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$dir/ca.pem
ssl.client.auth=none
EOF
			;;
		esac
	} >"$dir/server.properties"
}

# probe_api_versions PORT sends ApiVersions v0 (key 18, correlation ID 1,
# client ID "probe") and succeeds when the response carries correlation ID 1
# and error code 0. A SASL listener answers ApiVersions before authentication.
probe_api_versions() {
	local resp
	resp=$(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf '\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x01\x00\x05probe' >&3
		timeout 2 head -c 10 <&3 | od -An -tx1 | tr -d ' \n'
	) 2>/dev/null || return 1
	[ "${resp:8:8}" = 00000001 ] && [ "${resp:16:4}" = 0000 ]
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

alive() {
	local pid=$1 dir=$2
	[ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/server.properties"
}

start() {
	local dir="" mode="" port="" cport="" timeout_s=90 owner="" reuse=""
	while [ $# -gt 0 ]; do
		case $1 in
		--dir) dir=$2; shift 2 ;;
		--mode) mode=$2; shift 2 ;;
		--owner) owner=$2; shift 2 ;;
		--reuse) reuse=1; shift ;;
		--port) port=$2; shift 2 ;;
		--controller-port) cport=$2; shift 2 ;;
		--timeout) timeout_s=$2; shift 2 ;;
		*) die "start: unknown argument $1" ;;
		esac
	done
	[ -n "$dir" ] || die "start: --dir is required"
	[ -n "$mode$reuse" ] || die "start: --mode is required (plaintext, sasl or ssl)"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/pid" ] && alive "$(cat "$dir/pid")" "$dir"; then
		die "a broker is already running from $dir (pid $(cat "$dir/pid")); kafka.sh stop --dir $dir"
	fi
	rm -f "$dir/pid" "$dir/bootstrap"
	fetch
	local cp="$libs/*"

	if [ -n "$reuse" ]; then
		if [ ! -f "$dir/server.properties" ] || [ ! -d "$dir/data" ]; then
			die "start --reuse: no server.properties and data/ in $dir"
		fi
		mode=$(sed -n 's/^# Written by deploy\/dev\/kafka.sh start --mode //p' "$dir/server.properties")
		port=$(sed -n 's/^advertised.listeners=[A-Z_]*:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$dir/server.properties")
		if [ -z "$mode" ] || [ -z "$port" ]; then
			die "start --reuse: $dir/server.properties was not written by kafka.sh"
		fi
		[ ! -f "$dir/server.log" ] || mv "$dir/server.log" "$dir/server.log.previous"
	else
		local ports
		read -r -a ports <<<"$(free_ports 2)"
		port=${port:-${ports[0]}}
		cport=${cport:-${ports[1]}}
		[ "$port" != "$cport" ] || die "--port and --controller-port are both $port"

		[ "$mode" != ssl ] || make_tls "$dir"
		write_config "$dir" "$mode" "$port" "$cport"

		local scram=()
		if [ "$mode" = sasl ]; then
			scram=(--add-scram 'SCRAM-SHA-512=[name=alice,password=alice-secret]'
				--add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]')
		fi
		rm -rf "$dir/data"
		java -Xmx256m -Dlog4j2.configurationFile="$dev_dir/kafka/tools-log4j2.properties" -cp "$cp" \
			kafka.tools.StorageTool format --cluster-id "$(cluster_id)" \
			--config "$dir/server.properties" "${scram[@]}" >"$dir/format.log" 2>&1 ||
			die "formatting storage failed: $(tail -5 "$dir/format.log")"
	fi

	# setsid: the broker outlives this script and ignores its terminal's
	# signals. The inner shell records its own PID and then becomes java.
	# shellcheck disable=SC2016,SC2086
	setsid bash -c 'echo $$ >"$1/pid"; shift; exec "$@"' _ "$dir" \
		java ${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true ${KAFKA_JVM_OPTS:-} \
		-Dlog4j2.configurationFile="$dev_dir/kafka/log4j2.properties" \
		-cp "$cp" kafka.Kafka "$dir/server.properties" \
		>"$dir/server.log" 2>&1 </dev/null &

	local deadline=$((SECONDS + timeout_s)) pid=""
	while :; do
		[ -n "$pid" ] || pid=$(cat "$dir/pid" 2>/dev/null || true)
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			die "broker exited during start-up; last lines of $dir/server.log:
$(tail -20 "$dir/server.log")"
		fi
		if [ -n "$pid" ] && grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null; then
			if [ "$mode" = ssl ]; then
				port_open "$port" && break
			else
				probe_api_versions "$port" && break
			fi
		fi
		if [ $SECONDS -ge $deadline ]; then
			[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
			die "broker not ready after ${timeout_s}s; last lines of $dir/server.log:
$(tail -20 "$dir/server.log")"
		fi
		sleep 0.2
	done
	if [ -n "$owner" ]; then
		# Watch the owner; stop the broker when it is gone, unless someone
		# already stopped it (the pid file is then removed).
		# shellcheck disable=SC2016
		setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -f "$2/pid" ]; do sleep 1; done
			[ ! -f "$2/pid" ] || exec "$3" stop --dir "$2"' _ "$owner" "$dir" "$dev_dir/kafka.sh" \
			>/dev/null 2>&1 </dev/null &
	fi
	printf '127.0.0.1:%s\n' "$port" >"$dir/bootstrap"
	log "Kafka $version ($mode) ready at 127.0.0.1:$port, pid $pid, dir $dir"
	cat "$dir/bootstrap"
}

stop() {
	local dir=""
	while [ $# -gt 0 ]; do
		case $1 in
		--dir) dir=$2; shift 2 ;;
		*) die "stop: unknown argument $1" ;;
		esac
	done
	[ -n "$dir" ] || die "stop: --dir is required"
	dir=$(cd "$dir" && pwd)
	[ -f "$dir/pid" ] || { log "no broker pid in $dir"; return 0; }
	local pid
	pid=$(cat "$dir/pid")
	if alive "$pid" "$dir"; then
		kill -TERM "$pid" 2>/dev/null || true
		local deadline=$((SECONDS + 30))
		while alive "$pid" "$dir" && [ $SECONDS -lt $deadline ]; do
			sleep 0.2
		done
		if alive "$pid" "$dir"; then
			log "broker $pid ignored SIGTERM for 30s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$dir/pid" "$dir/bootstrap"
}

tool() {
	[ $# -ge 1 ] || die "tool: name the tool"
	local name=$1 class
	shift
	case $name in
	producer-perf-test) class=org.apache.kafka.tools.ProducerPerformance ;;
	consumer-perf-test) class=org.apache.kafka.tools.ConsumerPerformance ;;
	topics) class=org.apache.kafka.tools.TopicCommand ;;
	consumer-groups) class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
	broker-api-versions) class=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
	configs) class=org.apache.kafka.tools.ConfigCommand ;;
	*.*) class=$name ;;
	*) die "tool: unknown tool $name" ;;
	esac
	fetch
	exec java -Xmx256m -Dlog4j2.configurationFile="$dev_dir/kafka/tools-log4j2.properties" \
		-cp "$libs/*" "$class" "$@"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
fetch) fetch ;;
start) start "$@" ;;
stop) stop "$@" ;;
tool) tool "$@" ;;
version) echo "$version" ;;
-h | --help | help) usage ;;
*) die "unknown command $cmd (want fetch, start, stop, tool or version)" ;;
esac
