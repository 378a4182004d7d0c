"""Python client harness of the dev test bed (confluent-kafka, i.e. librdkafka).

Produces and/or consumes records and prints one JSON object per event on
stdout. Flags and events are the same for every harness; see
deploy/dev/README.md. Framed values go through confluent-kafka's own
SchemaRegistryClient and its serializers and deserializers (--serde avro,
json or protobuf), except the deliberately invalid ones (--invalid), which
are framed by hand.
"""

import argparse
import base64
import io
import json
import struct
import sys
import time

import confluent_kafka
import fastavro
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

# A schema ID no test registry hands out, for --invalid-kind unknown-id.
UNKNOWN_SCHEMA_ID = 2_147_483_000

# The registry's name for each --serde.
SCHEMA_TYPES = {"avro": "AVRO", "json": "JSON", "protobuf": "PROTOBUF"}

# The Confluent message indexes of User in user.proto, [1], as the
# Protobuf serializer writes them: a zig-zag varint count, then each index.
USER_PROTO_INDEXES = b"\x02\x02"


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--mode", choices=["produce", "consume", "both"], default="both")
    p.add_argument("--group")
    p.add_argument("--group-protocol", choices=["classic", "consumer"], default="classic")
    p.add_argument("--compression", choices=["none", "gzip", "snappy", "lz4", "zstd"], default="none")
    p.add_argument("--acks", default="all")
    p.add_argument("--idempotent", action="store_true")
    p.add_argument("--transactional", metavar="TRANSACTIONAL_ID")
    p.add_argument("--txn", choices=["commit", "abort"], default="commit")
    p.add_argument("--security", choices=["plaintext", "sasl-scram512", "sasl-plain", "ssl"], default="plaintext")
    p.add_argument("--ca-file")
    p.add_argument("--username", default="alice")
    p.add_argument("--password", default="alice-secret")
    p.add_argument("--serde", choices=["none", "avro", "json", "protobuf"], default="none")
    p.add_argument("--registry")
    p.add_argument("--schema-file")
    p.add_argument("--subject")
    p.add_argument("--invalid", action="store_true")
    p.add_argument("--invalid-kind", choices=["payload", "unknown-id", "no-magic", "unknown-field"])
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--key-prefix", default="k")
    p.add_argument("--isolation", choices=["read_committed", "read_uncommitted"], default="read_committed")
    p.add_argument("--value-size", type=int, default=100)
    a = p.parse_args(argv)
    if a.serde != "none" and not a.registry:
        p.error(f"--serde {a.serde} needs --registry")
    if a.serde != "none" and not a.schema_file:
        p.error(f"--serde {a.serde} needs --schema-file")
    if a.invalid_kind == "unknown-field" and a.serde != "protobuf":
        p.error("--invalid-kind unknown-field needs --serde protobuf")
    if a.invalid_kind:
        a.invalid = True
    elif a.invalid:
        a.invalid_kind = "payload"
    return a


def plain_value(i, size):
    """value-i- padded with a repeating alphabet: compressible, deterministic."""
    s = f"value-{i}-"
    s += "".join(chr(ord("a") + n % 26) for n in range(len(s), size))
    return s.encode()


def frame(schema_id, body):
    """Confluent wire format: magic byte 0, schema ID (int32 big-endian), body."""
    return b"\x00" + struct.pack(">I", schema_id) + body


def package_version():
    # confluent_kafka.version() was a (string, int) tuple before 2.x; now a string.
    v = confluent_kafka.version()
    return v[0] if isinstance(v, tuple) else v


def record(i):
    return {"id": i, "name": f"user-{i}", "email": f"user-{i}@example.com" if i % 2 == 0 else None}


def user_proto():
    """Builds clients/schemas/user.proto as a FileDescriptorProto, the way
    protoc would describe it, and returns the class of its User message and
    the file in its serialized form. The harness writes only this schema
    (--serde protobuf): it has no .proto compiler."""
    f = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="user.proto", package="io.schemaproxy.dev", syntax="proto3")
    fdp.message_type.add(name="Address").field.add(name="city", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    user = fdp.message_type.add(name="User")
    user.field.add(name="id", number=1, type=f.TYPE_INT64, label=f.LABEL_OPTIONAL)
    user.field.add(name="name", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    # proto3 optional: a synthetic one-field oneof gives email presence.
    user.field.add(
        name="email", number=3, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL, oneof_index=0, proto3_optional=True
    )
    user.oneof_decl.add(name="_email")
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(fdp.SerializeToString())
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("io.schemaproxy.dev.User"))
    return cls, pool.FindFileByName("user.proto").serialized_pb


def check_user_proto(text):
    """Fails unless text looks like clients/schemas/user.proto, the one
    Protobuf schema the harness can build at run time."""
    if "package io.schemaproxy.dev;" not in text or "message User {" not in text:
        raise ValueError("the Python harness writes only the User of clients/schemas/user.proto")


def user_dict(msg):
    """A User message as record(i) spells it: email None when unset."""
    return {"id": msg.id, "name": msg.name, "email": msg.email if msg.HasField("email") else None}


class ProtobufTextRegistry(SchemaRegistryClient):
    """A SchemaRegistryClient that converts one Protobuf schema between its
    two forms.

    A Confluent registry keeps a Protobuf schema as .proto text, accepts it
    as a serialized FileDescriptorProto (base64) too, and hands that form
    out on request (format=serialized); confluent-kafka's Protobuf serde
    registers, looks up and parses only the serialized form. The test bed's
    registry stores schemas as given, so this client converts for the
    harness's one schema: the registry, and the proxy that reads it, see
    the text; the serde sees the serialized file.
    """

    def __init__(self, conf, text, serialized):
        super().__init__(conf)
        self._text = text
        self._serialized = base64.standard_b64encode(serialized).decode("ascii")

    def _as_text(self, schema):
        if schema.schema_type == "PROTOBUF" and schema.schema_str == self._serialized:
            return Schema(self._text, "PROTOBUF", schema.references)
        return schema

    def _as_serialized(self, schema, fmt):
        if fmt == "serialized" and schema.schema_type == "PROTOBUF" and schema.schema_str == self._text:
            return Schema(self._serialized, "PROTOBUF", schema.references)
        return schema

    def register_schema_full_response(self, subject_name, schema, normalize_schemas=False):
        return super().register_schema_full_response(subject_name, self._as_text(schema), normalize_schemas)

    def lookup_schema(self, subject_name, schema, normalize_schemas=False, fmt=None, deleted=False):
        return super().lookup_schema(subject_name, self._as_text(schema), normalize_schemas, fmt, deleted)

    def get_schema(self, schema_id, subject_name=None, fmt=None, reference_format=None):
        return self._as_serialized(super().get_schema(schema_id, subject_name, fmt, reference_format), fmt)


class Harness:
    def __init__(self, args):
        self.a = args
        self.deadline = time.monotonic() + args.timeout
        self.produced = 0
        self.produce_errors = 0
        self.consumed = 0
        self.consume_errors = 0
        self.registry = None
        self.schema_str = None
        self.user_class = None
        if args.serde != "none":
            with open(args.schema_file) as f:
                self.schema_str = f.read()
            conf = {"url": args.registry}
            if args.serde == "protobuf":
                check_user_proto(self.schema_str)
                self.user_class, serialized = user_proto()
                self.registry = ProtobufTextRegistry(conf, self.schema_str, serialized)
            else:
                self.registry = SchemaRegistryClient(conf)

    def remaining(self):
        return max(0.0, self.deadline - time.monotonic())

    def common(self):
        a = self.a
        c = {"bootstrap.servers": a.bootstrap, "client.id": "schemaproxy-dev-python"}
        if a.security in ("sasl-scram512", "sasl-plain"):
            c["security.protocol"] = "SASL_PLAINTEXT"
            c["sasl.mechanisms"] = "SCRAM-SHA-512" if a.security == "sasl-scram512" else "PLAIN"
            c["sasl.username"] = a.username
            c["sasl.password"] = a.password
        elif a.security == "ssl":
            c["security.protocol"] = "SSL"
            if a.ca_file:
                c["ssl.ca.location"] = a.ca_file
        return c

    # ---- produce -----------------------------------------------------------

    def values(self):
        """Yields (value bytes, schema ID or None) for each record index."""
        a = self.a
        if a.serde == "none":
            for i in range(a.count):
                yield plain_value(i, a.value_size), None
            return
        subject = a.subject or f"{a.topic}-value"
        if not a.invalid:
            ser = self.serializer(subject)
            ctx = SerializationContext(a.topic, MessageField.VALUE)
            for i in range(a.count):
                v = ser(self.obj(i), ctx)
                yield v, struct.unpack(">I", v[1:5])[0]
            return
        schema_id = self.registry.register_schema(subject, Schema(self.schema_str, SCHEMA_TYPES[a.serde]))
        for i in range(a.count):
            if a.invalid_kind == "unknown-id":
                yield frame(UNKNOWN_SCHEMA_ID, self.body(i)), UNKNOWN_SCHEMA_ID
            elif a.invalid_kind == "no-magic":
                yield json.dumps({"id": i}).encode(), None
            else:
                yield frame(schema_id, self.invalid_body(i)), schema_id

    def serializer(self, subject):
        """confluent-kafka's serializer for --serde, registering the schema
        under subject on first use."""
        a = self.a
        conf = {"auto.register.schemas": True}
        if a.subject:
            conf["subject.name.strategy"] = lambda ctx, record_name: subject
        if a.serde == "avro":
            return AvroSerializer(self.registry, self.schema_str, conf=conf)
        if a.serde == "json":
            return JSONSerializer(self.schema_str, self.registry, conf=conf)
        return ProtobufSerializer(self.user_class, self.registry, conf=conf)

    def deserializer(self):
        a = self.a
        if a.serde == "avro":
            return AvroDeserializer(self.registry)
        if a.serde == "json":
            return JSONDeserializer(None, schema_registry_client=self.registry)
        if a.serde == "protobuf":
            deser = ProtobufDeserializer(self.user_class, schema_registry_client=self.registry)
            return lambda v, ctx: user_dict(deser(v, ctx))
        return None

    def obj(self, i):
        """Record i as the serializer of --serde takes it."""
        r = record(i)
        if self.a.serde != "protobuf":
            return r
        if r["email"] is None:
            del r["email"]
        return self.user_class(**r)

    def body(self, i):
        """Record i as the bytes after the schema ID, encoded by hand."""
        a = self.a
        if a.serde == "avro":
            out = io.BytesIO()
            fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(self.schema_str)), record(i))
            return out.getvalue()
        if a.serde == "json":
            return json.dumps(record(i)).encode()
        return USER_PROTO_INDEXES + self.obj(i).SerializeToString()

    def invalid_body(self, i):
        """The bytes after a registered schema ID for --invalid-kind payload
        (and unknown-field): well framed, but not the schema's."""
        a = self.a
        if a.serde == "avro":
            # id 1, then a string that claims 5 bytes and has 2: truncated Avro.
            return b"\x02\x0aab"
        if a.serde == "json":
            # Even records lack the required name, odd ones have id < 0
            # (minimum 0).
            if i % 2 == 0:
                return json.dumps({"id": i, "email": None}).encode()
            return json.dumps({"id": -i, "name": f"user-{i}", "email": None}).encode()
        if a.invalid_kind == "unknown-field":
            # A valid User, then field 15 (not in User) as varint 1.
            return USER_PROTO_INDEXES + self.obj(i).SerializeToString() + b"\x78\x01"
        if i % 2 == 0:
            # Field 1 (id, an int64: wire type 0) as wire type 2 holding
            # "ab", then a valid name.
            name = self.user_class(name=f"user-{i}").SerializeToString()
            return USER_PROTO_INDEXES + b"\x0a\x02ab" + name
        # A valid id, then field 2 (name) claiming 10 bytes and having 2.
        return USER_PROTO_INDEXES + self.user_class(id=i).SerializeToString() + b"\x12\x0aab"

    def produce(self):
        a = self.a
        conf = self.common()
        conf.update(
            {
                "acks": a.acks,
                "compression.type": a.compression,
                "enable.idempotence": a.idempotent or bool(a.transactional),
                "linger.ms": 5,
                "message.timeout.ms": max(1000, int(self.remaining() * 1000)),
            }
        )
        if a.transactional:
            # librdkafka requires message.timeout.ms <= transaction.timeout.ms.
            conf["transactional.id"] = a.transactional
            conf["transaction.timeout.ms"] = 60000
            conf["message.timeout.ms"] = min(conf["message.timeout.ms"], 60000)
        p = Producer(conf)
        if a.transactional:
            p.init_transactions(self.remaining())
            p.begin_transaction()

        def report(key, schema_id):
            def cb(err, msg):
                if err is not None:
                    self.produce_errors += 1
                    emit("produce_error", topic=a.topic, key=key, code=err.name(), error=err.str())
                    return
                self.produced += 1
                ev = {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(), "key": key}
                if schema_id is not None:
                    ev["schema_id"] = schema_id
                emit("produced", **ev)

            return cb

        for i, (value, schema_id) in enumerate(self.values()):
            key = f"{a.key_prefix}-{i}"
            while True:
                try:
                    p.produce(a.topic, key=key.encode(), value=value, on_delivery=report(key, schema_id))
                    break
                except BufferError:
                    p.poll(0.1)
            p.poll(0)
        left = p.flush(self.remaining())
        if left:
            raise RuntimeError(f"{left} records still undelivered at the timeout")
        self.emit_brokers(p)
        if a.transactional:
            if a.txn == "abort" or self.produce_errors:
                p.abort_transaction(self.remaining())
                emit("txn", action="abort", transactional_id=a.transactional)
            else:
                p.commit_transaction(self.remaining())
                emit("txn", action="commit", transactional_id=a.transactional)

    def emit_brokers(self, client):
        """Reports the brokers a metadata request through client names."""
        md = client.list_topics(self.a.topic, timeout=max(1.0, min(10.0, self.remaining())))
        brokers = sorted(md.brokers.values(), key=lambda b: b.id)
        emit("brokers", brokers=[{"node_id": b.id, "host": b.host, "port": b.port} for b in brokers])

    # ---- consume -----------------------------------------------------------

    def consume(self):
        a = self.a
        conf = self.common()
        conf.update(
            {
                "group.id": a.group or f"python-{a.topic}",
                "group.protocol": a.group_protocol,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": a.isolation,
            }
        )
        deser = self.deserializer()
        c = Consumer(conf)
        try:
            c.subscribe([a.topic])
            while self.consumed + self.consume_errors < a.count:
                left = self.remaining()
                if left == 0:
                    emit("error", error=f"timed out having consumed {self.consumed + self.consume_errors} of {a.count}")
                    return False
                # Handle and commit exactly count records; the group's next
                # member starts after the last one handled here.
                want = a.count - self.consumed - self.consume_errors
                commit = {}
                for m in c.consume(num_messages=min(want, 500), timeout=min(left, 0.5)):
                    if self.handle(m, deser):
                        commit[(m.topic(), m.partition())] = m.offset() + 1
                if commit:
                    c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in commit.items()], asynchronous=False)
            self.emit_brokers(c)
        finally:
            c.close()
        return True

    def handle(self, m, deser):
        """Reports one message; True when it was a record (decoded or not)."""
        a = self.a
        if m.error() is not None:
            err = m.error()
            if err.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                return False
            emit("consume_error", topic=a.topic, code=err.name(), error=err.str())
            if err.fatal():
                raise KafkaException(err)
            return False
        key = m.key().decode() if m.key() is not None else None
        ev = {"topic": m.topic(), "partition": m.partition(), "offset": m.offset(), "key": key}
        v = m.value()
        if deser is None:
            self.consumed += 1
            emit("consumed", value=v.decode() if v is not None else None, **ev)
            return True
        try:
            rec = deser(v, SerializationContext(m.topic(), MessageField.VALUE))
        except Exception as e:  # noqa: BLE001 - every decoding failure is reported the same way
            self.consume_errors += 1
            emit("consume_error", code="DESERIALIZATION", error=str(e), **ev)
            return True
        self.consumed += 1
        emit("consumed", schema_id=struct.unpack(">I", v[1:5])[0], record=rec, **ev)
        return True

    def run(self):
        emit(
            "start",
            client="python",
            library="confluent-kafka",
            version=package_version(),
            librdkafka=confluent_kafka.libversion()[0],
            topic=self.a.topic,
        )
        if self.a.mode in ("produce", "both"):
            self.produce()
        if self.a.mode in ("consume", "both"):
            return 0 if self.consume() else 1
        return 0


def main(argv):
    h = Harness(parse_args(argv))
    try:
        rc = h.run()
    except Exception as e:  # noqa: BLE001 - reported as an event, then a non-zero exit
        emit("error", error=f"{type(e).__name__}: {e}")
        rc = 1
    emit(
        "done",
        produced=h.produced,
        produce_errors=h.produce_errors,
        consumed=h.consumed,
        consume_errors=h.consume_errors,
    )
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
