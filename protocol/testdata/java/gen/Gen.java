import java.nio.charset.StandardCharsets;
import java.util.Properties;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class Gen {
    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    static byte[] bigValue(int i) {
        StringBuilder sb = new StringBuilder();
        for (int j = 0; sb.length() < 20480; j++) sb.append("record-").append(i).append("-line-").append(j).append('\n');
        return b(sb.substring(0, 20480));
    }

    public static void main(String[] args) throws Exception {
        for (String codec : new String[]{"none", "gzip", "snappy", "lz4", "zstd"}) {
            Properties p = new Properties();
            p.put("bootstrap.servers", "127.0.0.1:19092");
            p.put("compression.type", codec);
            p.put("linger.ms", "10000");
            p.put("batch.size", "1048576");
            p.put("client.id", "gen-" + codec);
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                RecordHeaders h0 = new RecordHeaders();
                h0.add("h1", b("a"));
                h0.add("h2", null);
                pr.send(new ProducerRecord<>(codec, 0, 1700000000000L, b("k0"), b("v0"), h0));
                pr.send(new ProducerRecord<>(codec, 0, 1700000000001L, null, new byte[0], new RecordHeaders()));
                RecordHeaders h2 = new RecordHeaders();
                h2.add("", new byte[0]);
                pr.send(new ProducerRecord<>(codec, 0, 1700000000002L, new byte[0], null, h2));
                RecordHeaders h3 = new RecordHeaders();
                h3.add("trace", b("abc"));
                h3.add("trace", b("def"));
                StringBuilder v = new StringBuilder();
                for (int j = 0; j < 20; j++) v.append("value-3-").append(j).append(' ');
                pr.send(new ProducerRecord<>(codec, 0, 1700000000003L, b("key-3"), b(v.toString()), h3));
                pr.flush();
                if (!codec.equals("none")) {
                    for (int i = 0; i < 3; i++) {
                        pr.send(new ProducerRecord<>(codec + "-big", 0, 1700000000000L + i, b("big-" + i), bigValue(i), new RecordHeaders()));
                    }
                    pr.flush();
                }
            }
        }
    }
}
