package io.schemaproxy.dev;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.internals.AppInfoParser;

/**
 * Java client harness of the dev test bed: produces and/or consumes records
 * with kafka-clients and prints one JSON object per event on stdout. Flags and
 * events are the same for every harness; see deploy/dev/README.md.
 *
 * <p>Avro values use the Confluent wire format (magic byte 0, 4-byte
 * big-endian schema ID, Avro binary), written here because Confluent's
 * serializers are not in the central repository. Schemas are registered and
 * looked up with the JDK HTTP client.
 */
public final class Harness {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** A schema ID no test registry hands out, for --invalid-kind unknown-id. */
  private static final int UNKNOWN_SCHEMA_ID = 2_147_483_000;

  private final Map<String, String> opt;
  private final long deadlineNanos;
  private final HttpClient http = HttpClient.newHttpClient();
  private final Map<Integer, Schema> schemasByID = new ConcurrentHashMap<>();
  private final AtomicInteger produced = new AtomicInteger();
  private final AtomicInteger produceErrors = new AtomicInteger();
  private int consumed;
  private int consumeErrors;

  private Harness(Map<String, String> opt) {
    this.opt = opt;
    this.deadlineNanos = System.nanoTime() + Duration.ofSeconds(intOpt("timeout")).toNanos();
  }

  public static void main(String[] args) {
    Map<String, String> opt;
    try {
      opt = parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("harness: " + e.getMessage());
      System.exit(2);
      return;
    }
    Harness h = new Harness(opt);
    int rc;
    try {
      rc = h.run();
    } catch (Exception e) {
      h.emit(h.event("error").put("error", String.valueOf(e)));
      rc = 1;
    }
    h.emit(
        h.event("done")
            .put("produced", h.produced.get())
            .put("produce_errors", h.produceErrors.get())
            .put("consumed", h.consumed)
            .put("consume_errors", h.consumeErrors));
    System.out.flush();
    System.exit(rc);
  }

  private static Map<String, String> parse(String[] args) {
    Map<String, String> o = new HashMap<>();
    o.put("count", "100");
    o.put("mode", "both");
    o.put("compression", "none");
    o.put("acks", "all");
    o.put("security", "plaintext");
    o.put("serde", "none");
    o.put("timeout", "60");
    o.put("key-prefix", "k");
    o.put("group-protocol", "classic");
    o.put("isolation", "read_committed");
    o.put("value-size", "100");
    o.put("txn", "commit");
    List<String> flags = List.of("idempotent", "invalid");
    List<String> valued =
        List.of(
            "bootstrap", "topic", "count", "mode", "group", "group-protocol", "compression",
            "acks", "transactional", "txn", "security", "ca-file", "username", "password",
            "serde", "registry", "schema-file", "subject", "invalid-kind", "timeout",
            "key-prefix", "isolation", "value-size");
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument " + a);
      }
      String name = a.substring(2);
      String value = null;
      int eq = name.indexOf('=');
      if (eq >= 0) {
        value = name.substring(eq + 1);
        name = name.substring(0, eq);
      }
      if (flags.contains(name)) {
        o.put(name, value == null ? "true" : value);
      } else if (valued.contains(name)) {
        if (value == null) {
          if (i + 1 >= args.length) {
            throw new IllegalArgumentException("--" + name + " needs a value");
          }
          value = args[++i];
        }
        o.put(name, value);
      } else {
        throw new IllegalArgumentException("unknown flag --" + name);
      }
    }
    for (String req : List.of("bootstrap", "topic")) {
      if (!o.containsKey(req)) {
        throw new IllegalArgumentException("--" + req + " is required");
      }
    }
    if (o.get("serde").equals("avro") && !o.containsKey("registry")) {
      throw new IllegalArgumentException("--serde avro needs --registry");
    }
    if (o.containsKey("invalid-kind")) {
      o.put("invalid", "true");
    }
    return o;
  }

  private int intOpt(String name) {
    return Integer.parseInt(opt.get(name));
  }

  private boolean flag(String name) {
    return "true".equals(opt.get(name));
  }

  private boolean avro() {
    return opt.get("serde").equals("avro");
  }

  private long remainingMillis() {
    return Math.max(0, (deadlineNanos - System.nanoTime()) / 1_000_000);
  }

  private ObjectNode event(String name) {
    return JSON.createObjectNode().put("event", name);
  }

  private synchronized void emit(ObjectNode ev) {
    System.out.println(ev.toString());
    System.out.flush();
  }

  private int run() throws Exception {
    emit(
        event("start")
            .put("client", "java")
            .put("library", "kafka-clients")
            .put("version", AppInfoParser.getVersion())
            .put("topic", opt.get("topic")));
    String mode = opt.get("mode");
    if (mode.equals("produce") || mode.equals("both")) {
      produce();
    }
    if (mode.equals("consume") || mode.equals("both")) {
      return consume() ? 0 : 1;
    }
    return 0;
  }

  private Properties common() {
    Properties p = new Properties();
    p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, opt.get("bootstrap"));
    p.put(CommonClientConfigs.CLIENT_ID_CONFIG, "schemaproxy-dev-java");
    String user = opt.getOrDefault("username", "alice");
    String pass = opt.getOrDefault("password", "alice-secret");
    switch (opt.get("security")) {
      case "plaintext" -> {}
      case "sasl-scram512" -> {
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
        p.put(SaslConfigs.SASL_MECHANISM, "SCRAM-SHA-512");
        p.put(SaslConfigs.SASL_JAAS_CONFIG, jaas("org.apache.kafka.common.security.scram.ScramLoginModule", user, pass));
      }
      case "sasl-plain" -> {
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
        p.put(SaslConfigs.SASL_MECHANISM, "PLAIN");
        p.put(SaslConfigs.SASL_JAAS_CONFIG, jaas("org.apache.kafka.common.security.plain.PlainLoginModule", user, pass));
      }
      case "ssl" -> {
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SSL");
        if (opt.containsKey("ca-file")) {
          p.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PEM");
          p.put(SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, opt.get("ca-file"));
        }
      }
      default -> throw new IllegalArgumentException("unknown --security " + opt.get("security"));
    }
    return p;
  }

  private static String jaas(String module, String user, String pass) {
    return module + " required username=\"" + user + "\" password=\"" + pass + "\";";
  }

  // ---- produce -------------------------------------------------------------

  private void produce() throws Exception {
    Properties p = common();
    String txnID = opt.get("transactional");
    boolean idempotent = flag("idempotent") || txnID != null;
    p.put(ProducerConfig.ACKS_CONFIG, opt.get("acks"));
    p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, opt.get("compression"));
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, String.valueOf(idempotent));
    if (txnID != null) {
      p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnID);
    }
    int timeoutMs = (int) Math.min(Integer.MAX_VALUE, remainingMillis());
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, String.valueOf(Math.max(timeoutMs, 10_005)));
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(timeoutMs));
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());

    ValueMaker values = avro() ? new AvroValues() : new PlainValues(intOpt("value-size"));
    String topic = opt.get("topic");
    int count = intOpt("count");
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
      if (txnID != null) {
        producer.initTransactions();
        producer.beginTransaction();
      }
      for (int i = 0; i < count; i++) {
        String key = opt.get("key-prefix") + "-" + i;
        byte[] value = values.value(i);
        Integer schemaID = values.schemaID();
        producer.send(
            new ProducerRecord<>(topic, key.getBytes(StandardCharsets.UTF_8), value),
            (md, err) -> {
              if (err != null) {
                produceErrors.incrementAndGet();
                emit(
                    event("produce_error")
                        .put("topic", topic)
                        .put("key", key)
                        .put("code", Errors.forException(err).name())
                        .put("error", String.valueOf(err)));
                return;
              }
              produced.incrementAndGet();
              ObjectNode ev =
                  event("produced")
                      .put("topic", md.topic())
                      .put("partition", md.partition())
                      .put("offset", md.offset())
                      .put("key", key);
              if (schemaID != null) {
                ev.put("schema_id", schemaID);
              }
              emit(ev);
            });
      }
      producer.flush();
      emitBrokers(producer.partitionsFor(topic));
      if (txnID != null) {
        if (opt.get("txn").equals("abort") || produceErrors.get() > 0) {
          producer.abortTransaction();
          emit(event("txn").put("action", "abort").put("transactional_id", txnID));
        } else {
          producer.commitTransaction();
          emit(event("txn").put("action", "commit").put("transactional_id", txnID));
        }
      }
    }
  }

  private interface ValueMaker {
    byte[] value(int i) throws Exception;

    /** The schema ID written into the last value, or null for plain values. */
    Integer schemaID();
  }

  private static final class PlainValues implements ValueMaker {
    private final int size;

    PlainValues(int size) {
      this.size = size;
    }

    @Override
    public byte[] value(int i) {
      return plainValue(i, size);
    }

    @Override
    public Integer schemaID() {
      return null;
    }
  }

  /** value-i padded with a repeating alphabet to size bytes: compressible, deterministic. */
  static byte[] plainValue(int i, int size) {
    StringBuilder sb = new StringBuilder("value-").append(i).append('-');
    while (sb.length() < size) {
      sb.append((char) ('a' + sb.length() % 26));
    }
    return sb.toString().getBytes(StandardCharsets.UTF_8);
  }

  private final class AvroValues implements ValueMaker {
    private final Schema schema;
    private final int registeredID;
    private final String invalidKind;
    private Integer lastID;

    AvroValues() throws Exception {
      String text = Files.readString(Path.of(opt.get("schema-file")));
      schema = new Schema.Parser().parse(text);
      String subject = opt.getOrDefault("subject", opt.get("topic") + "-value");
      registeredID = register(subject, text);
      invalidKind = flag("invalid") ? opt.getOrDefault("invalid-kind", "payload") : null;
    }

    @Override
    public byte[] value(int i) throws IOException {
      GenericRecord r = new GenericData.Record(schema);
      r.put("id", (long) i);
      r.put("name", "user-" + i);
      r.put("email", i % 2 == 0 ? "user-" + i + "@example.com" : null);
      ByteArrayOutputStream body = new ByteArrayOutputStream();
      BinaryEncoder enc = EncoderFactory.get().binaryEncoder(body, null);
      new GenericDatumWriter<GenericRecord>(schema).write(r, enc);
      enc.flush();
      if (invalidKind == null) {
        lastID = registeredID;
        return frame(registeredID, body.toByteArray());
      }
      switch (invalidKind) {
        case "payload" -> {
          // id 1, then a string that claims 5 bytes and has 2: truncated Avro.
          lastID = registeredID;
          return frame(registeredID, new byte[] {0x02, 0x0a, 'a', 'b'});
        }
        case "unknown-id" -> {
          lastID = UNKNOWN_SCHEMA_ID;
          return frame(UNKNOWN_SCHEMA_ID, body.toByteArray());
        }
        case "no-magic" -> {
          lastID = null;
          return ("{\"id\":" + i + "}").getBytes(StandardCharsets.UTF_8);
        }
        default -> throw new IllegalArgumentException("unknown --invalid-kind " + invalidKind);
      }
    }

    @Override
    public Integer schemaID() {
      return lastID;
    }
  }

  /** Confluent wire format: magic byte 0, schema ID (int32 big-endian), body. */
  private static byte[] frame(int schemaID, byte[] body) {
    return ByteBuffer.allocate(5 + body.length).put((byte) 0).putInt(schemaID).put(body).array();
  }

  private int register(String subject, String schemaText) throws Exception {
    String url =
        trimSlash(opt.get("registry"))
            + "/subjects/"
            + URLEncoder.encode(subject, StandardCharsets.UTF_8)
            + "/versions";
    String body = JSON.createObjectNode().put("schema", schemaText).put("schemaType", "AVRO").toString();
    HttpRequest req =
        HttpRequest.newBuilder(URI.create(url))
            .timeout(Duration.ofSeconds(10))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build();
    HttpResponse<String> resp = http.send(req, HttpResponse.BodyHandlers.ofString());
    if (resp.statusCode() / 100 != 2) {
      throw new IOException("registering " + subject + ": HTTP " + resp.statusCode() + ": " + resp.body());
    }
    return JSON.readTree(resp.body()).get("id").asInt();
  }

  private Schema schemaByID(int id) throws Exception {
    Schema s = schemasByID.get(id);
    if (s != null) {
      return s;
    }
    HttpRequest req =
        HttpRequest.newBuilder(URI.create(trimSlash(opt.get("registry")) + "/schemas/ids/" + id))
            .timeout(Duration.ofSeconds(10))
            .GET()
            .build();
    HttpResponse<String> resp = http.send(req, HttpResponse.BodyHandlers.ofString());
    if (resp.statusCode() / 100 != 2) {
      throw new IOException("schema " + id + ": HTTP " + resp.statusCode() + ": " + resp.body());
    }
    s = new Schema.Parser().parse(JSON.readTree(resp.body()).get("schema").asText());
    schemasByID.put(id, s);
    return s;
  }

  private static String trimSlash(String s) {
    return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
  }

  // ---- consume -------------------------------------------------------------

  private boolean consume() throws Exception {
    Properties p = common();
    String topic = opt.get("topic");
    p.put(ConsumerConfig.GROUP_ID_CONFIG, opt.getOrDefault("group", "java-" + topic));
    p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, opt.get("group-protocol"));
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, opt.get("isolation"));
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    int count = intOpt("count");
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(List.of(topic));
      while (consumed + consumeErrors < count) {
        long left = remainingMillis();
        if (left == 0) {
          emit(
              event("error")
                  .put("error", "timed out having consumed " + (consumed + consumeErrors) + " of " + count));
          return false;
        }
        ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(Math.min(left, 500)));
        // Handle and commit exactly count records; the group's next member
        // starts after the last one handled here.
        Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : recs) {
          if (consumed + consumeErrors >= count) {
            break;
          }
          handle(r);
          commit.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
        }
        if (!commit.isEmpty()) {
          consumer.commitSync(commit);
        }
      }
      emitBrokers(consumer.partitionsFor(topic));
    }
    return true;
  }

  /** Reports the distinct brokers that lead or replicate the partitions, as metadata named them. */
  private void emitBrokers(List<PartitionInfo> partitions) {
    Map<Integer, Node> nodes = new TreeMap<>();
    for (PartitionInfo pi : partitions) {
      if (pi.leader() != null && !pi.leader().isEmpty()) {
        nodes.put(pi.leader().id(), pi.leader());
      }
      for (Node n : pi.replicas()) {
        if (!n.isEmpty()) {
          nodes.put(n.id(), n);
        }
      }
    }
    ArrayNode list = JSON.createArrayNode();
    for (Node n : nodes.values()) {
      list.addObject().put("node_id", n.id()).put("host", n.host()).put("port", n.port());
    }
    ObjectNode ev = event("brokers");
    ev.set("brokers", list);
    emit(ev);
  }

  private void handle(ConsumerRecord<byte[], byte[]> r) {
    String key = r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8);
    ObjectNode ev =
        event("consumed")
            .put("topic", r.topic())
            .put("partition", r.partition())
            .put("offset", r.offset())
            .put("key", key);
    byte[] v = r.value();
    if (!avro()) {
      consumed++;
      emit(ev.put("value", v == null ? null : new String(v, StandardCharsets.UTF_8)));
      return;
    }
    try {
      if (v == null || v.length < 5 || v[0] != 0) {
        throw new IOException("value is not in the Confluent wire format (no magic byte 0)");
      }
      ByteBuffer buf = ByteBuffer.wrap(v);
      buf.get();
      int id = buf.getInt();
      Schema writer = schemaByID(id);
      GenericRecord rec =
          new GenericDatumReader<GenericRecord>(writer)
              .read(null, DecoderFactory.get().binaryDecoder(v, 5, v.length - 5, null));
      JsonNode asJSON = JSON.readTree(GenericData.get().toString(rec));
      consumed++;
      emit(ev.put("schema_id", id).set("record", asJSON));
    } catch (Exception e) {
      consumeErrors++;
      emit(
          event("consume_error")
              .put("topic", r.topic())
              .put("partition", r.partition())
              .put("offset", r.offset())
              .put("key", key)
              .put("code", "DESERIALIZATION")
              .put("error", String.valueOf(e)));
    }
  }
}
