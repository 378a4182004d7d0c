'use strict'
// Node client harness of the dev test bed (kafkajs). Produces and/or consumes
// records and prints one JSON object per event on stdout. Flags and events are
// the same for every harness; see deploy/dev/README.md.
//
// kafkajs has gzip built in; snappy (kafkajs-snappy), LZ4 frames (lz4-napi)
// and zstd (@mongodb-js/zstd) are registered below. kafkajs speaks only the
// classic group protocol. A produce error fails the whole send() call in
// kafkajs, so every record of that call is reported with the error.

const fs = require('fs')
const { parseArgs } = require('util')
const { Kafka, CompressionTypes, CompressionCodecs, Partitioners, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const lz4 = require('lz4-napi')
const zstd = require('@mongodb-js/zstd')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')
const avsc = require('avsc')

// A schema ID no test registry hands out, for --invalid-kind unknown-id.
const UNKNOWN_SCHEMA_ID = 2147483000
// Records per send() call.
const CHUNK = 100

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: encoder => lz4.compressFrame(encoder.buffer),
  decompress: buffer => lz4.decompressFrame(buffer),
})
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: encoder => zstd.compress(encoder.buffer, 3),
  decompress: buffer => zstd.decompress(buffer),
})

const compressions = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

function emit(event, fields) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n')
}

function usage(msg) {
  process.stderr.write(`harness: ${msg}\n`)
  process.exit(2)
}

function parse(argv) {
  const { values: o } = parseArgs({
    args: argv,
    options: {
      bootstrap: { type: 'string' },
      topic: { type: 'string' },
      count: { type: 'string', default: '100' },
      mode: { type: 'string', default: 'both' },
      group: { type: 'string' },
      'group-protocol': { type: 'string', default: 'classic' },
      compression: { type: 'string', default: 'none' },
      acks: { type: 'string', default: 'all' },
      idempotent: { type: 'boolean', default: false },
      transactional: { type: 'string' },
      txn: { type: 'string', default: 'commit' },
      security: { type: 'string', default: 'plaintext' },
      'ca-file': { type: 'string' },
      username: { type: 'string', default: 'alice' },
      password: { type: 'string', default: 'alice-secret' },
      serde: { type: 'string', default: 'none' },
      registry: { type: 'string' },
      'schema-file': { type: 'string' },
      subject: { type: 'string' },
      invalid: { type: 'boolean', default: false },
      'invalid-kind': { type: 'string' },
      timeout: { type: 'string', default: '60' },
      'key-prefix': { type: 'string', default: 'k' },
      isolation: { type: 'string', default: 'read_committed' },
      'value-size': { type: 'string', default: '100' },
    },
  })
  if (!o.bootstrap) usage('--bootstrap is required')
  if (!o.topic) usage('--topic is required')
  if (!['produce', 'consume', 'both'].includes(o.mode)) usage(`unknown --mode ${o.mode}`)
  if (!(o.compression in compressions)) usage(`unknown --compression ${o.compression}`)
  if (o['group-protocol'] !== 'classic') usage('kafkajs speaks only --group-protocol classic')
  if (o.serde === 'avro' && !o.registry) usage('--serde avro needs --registry')
  if (o['invalid-kind']) o.invalid = true
  else if (o.invalid) o['invalid-kind'] = 'payload'
  o.count = Number(o.count)
  o.timeout = Number(o.timeout)
  o['value-size'] = Number(o['value-size'])
  return o
}

function acksOf(s) {
  if (s === 'all' || s === '-1') return -1
  return Number(s)
}

// plainValue is value-i- padded with a repeating alphabet: compressible, deterministic.
function plainValue(i, size) {
  let s = `value-${i}-`
  for (let n = s.length; n < size; n++) s += String.fromCharCode(97 + (n % 26))
  return Buffer.from(s)
}

// frame writes the Confluent wire format: magic byte 0, schema ID (int32 BE), body.
function frame(schemaID, body) {
  const head = Buffer.alloc(5)
  head.writeUInt8(0, 0)
  head.writeUInt32BE(schemaID, 1)
  return Buffer.concat([head, body])
}

function record(i) {
  return { id: i, name: `user-${i}`, email: i % 2 === 0 ? `user-${i}@example.com` : null }
}

// errorCode finds the Kafka error name (INVALID_RECORD, ...) in a kafkajs error chain.
function errorCode(e) {
  for (let cur = e; cur; cur = cur.cause || cur.originalError) {
    if (cur.type) return cur.type
    if (Array.isArray(cur.errors) && cur.errors.length) return errorCode(cur.errors[0])
  }
  return e && e.name ? e.name : 'UNKNOWN'
}

// emitBrokers reports the brokers a metadata request through admin names.
async function emitBrokers(admin) {
  const { brokers } = await admin.describeCluster()
  emit('brokers', {
    brokers: brokers
      .map(b => ({ node_id: b.nodeId, host: b.host, port: b.port }))
      .sort((a, b) => a.node_id - b.node_id),
  })
}

class Harness {
  constructor(o) {
    this.o = o
    this.deadline = Date.now() + o.timeout * 1000
    this.produced = 0
    this.produceErrors = 0
    this.consumed = 0
    this.consumeErrors = 0
    this.registry = o.serde === 'avro' ? new SchemaRegistry({ host: o.registry }) : null
    const cfg = {
      clientId: 'schemaproxy-dev-node',
      brokers: [o.bootstrap],
      connectionTimeout: 5000,
      requestTimeout: 10000,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
      logLevel: logLevel.WARN,
      // kafkajs logs to stdout by default; stdout carries only events.
      logCreator: () => ({ level, log }) => {
        if (level <= logLevel.WARN) {
          process.stderr.write(`kafkajs ${log.message} ${JSON.stringify(log)}\n`)
        }
      },
    }
    switch (o.security) {
      case 'plaintext':
        break
      case 'sasl-scram512':
        cfg.sasl = { mechanism: 'scram-sha-512', username: o.username, password: o.password }
        break
      case 'sasl-plain':
        cfg.sasl = { mechanism: 'plain', username: o.username, password: o.password }
        break
      case 'ssl':
        cfg.ssl = o['ca-file'] ? { ca: [fs.readFileSync(o['ca-file'])] } : true
        break
      default:
        usage(`unknown --security ${o.security}`)
    }
    this.kafka = new Kafka(cfg)
  }

  remaining() {
    return Math.max(0, this.deadline - Date.now())
  }

  // values returns [{value, schemaID}] for every record index.
  async values() {
    const o = this.o
    const out = []
    if (o.serde === 'none') {
      for (let i = 0; i < o.count; i++) out.push({ value: plainValue(i, o['value-size']), schemaID: null })
      return out
    }
    const text = fs.readFileSync(o['schema-file'], 'utf8')
    const subject = o.subject || `${o.topic}-value`
    const { id } = await this.registry.register({ type: SchemaType.AVRO, schema: text }, { subject })
    const type = avsc.Type.forSchema(JSON.parse(text))
    for (let i = 0; i < o.count; i++) {
      if (!o.invalid) {
        out.push({ value: await this.registry.encode(id, record(i)), schemaID: id })
      } else if (o['invalid-kind'] === 'payload') {
        // id 1, then a string that claims 5 bytes and has 2: truncated Avro.
        out.push({ value: frame(id, Buffer.from([0x02, 0x0a, 0x61, 0x62])), schemaID: id })
      } else if (o['invalid-kind'] === 'unknown-id') {
        out.push({ value: frame(UNKNOWN_SCHEMA_ID, type.toBuffer(record(i))), schemaID: UNKNOWN_SCHEMA_ID })
      } else if (o['invalid-kind'] === 'no-magic') {
        out.push({ value: Buffer.from(JSON.stringify({ id: i })), schemaID: null })
      } else {
        usage(`unknown --invalid-kind ${o['invalid-kind']}`)
      }
    }
    return out
  }

  async produce() {
    const o = this.o
    const txnID = o.transactional
    const idempotent = o.idempotent || Boolean(txnID)
    const producer = this.kafka.producer({
      idempotent,
      transactionalId: txnID,
      maxInFlightRequests: idempotent ? 1 : undefined,
      createPartitioner: Partitioners.DefaultPartitioner,
      transactionTimeout: 60000,
    })
    await producer.connect()
    try {
      const values = await this.values()
      const partitionOf = await this.partitioner()
      const sender = txnID ? await producer.transaction() : producer
      let failed = false
      for (let start = 0; start < o.count; start += CHUNK) {
        const chunk = []
        for (let i = start; i < Math.min(o.count, start + CHUNK); i++) {
          const key = `${o['key-prefix']}-${i}`
          chunk.push({ key, partition: partitionOf({ key, value: values[i].value }), ...values[i] })
        }
        failed = !(await this.sendChunk(sender, chunk)) || failed
      }
      if (txnID) {
        if (o.txn === 'abort' || failed) {
          await sender.abort()
          emit('txn', { action: 'abort', transactional_id: txnID })
        } else {
          await sender.commit()
          emit('txn', { action: 'commit', transactional_id: txnID })
        }
      }
    } finally {
      await producer.disconnect()
    }
  }

  // sendChunk sends one batch of records and reports each; false on error.
  async sendChunk(sender, chunk) {
    const o = this.o
    let md
    try {
      md = await sender.send({
        topic: o.topic,
        acks: acksOf(o.acks),
        compression: compressions[o.compression],
        timeout: 10000,
        messages: chunk.map(m => ({ key: m.key, value: m.value, partition: m.partition })),
      })
    } catch (e) {
      for (const m of chunk) {
        this.produceErrors++
        emit('produce_error', { topic: o.topic, key: m.key, code: errorCode(e), error: String(e) })
      }
      return false
    }
    // kafkajs answers per partition with the batch's base offset; records of
    // one partition keep their send order, so each one's offset follows.
    const base = new Map(md.map(r => [r.partition, BigInt(r.baseOffset)]))
    const seen = new Map()
    for (const m of chunk) {
      const idx = seen.get(m.partition) || 0n
      seen.set(m.partition, idx + 1n)
      const b = base.get(m.partition)
      const ev = {
        topic: o.topic,
        partition: m.partition,
        offset: b === undefined || b < 0n ? -1 : Number(b + idx),
        key: m.key,
      }
      if (m.schemaID !== null) ev.schema_id = m.schemaID
      this.produced++
      emit('produced', ev)
    }
    return true
  }

  // partitioner learns the topic's partitions, creating the topic with the
  // broker's defaults when it is missing (kafkajs's admin metadata request
  // does not auto-create), and returns kafkajs's default partitioner bound to
  // them, so each record's partition and thus its offset are known.
  async partitioner() {
    const topic = this.o.topic
    const admin = this.kafka.admin()
    await admin.connect()
    try {
      const existing = await admin.listTopics()
      if (!existing.includes(topic)) {
        await admin.createTopics({ topics: [{ topic }], waitForLeaders: false })
      }
      const partitionMetadata = await this.partitionsOf(admin, topic)
      await emitBrokers(admin)
      const pick = Partitioners.DefaultPartitioner()
      return m => pick({ topic: this.o.topic, partitionMetadata, message: m })
    } finally {
      await admin.disconnect()
    }
  }

  // partitionsOf waits until topic takes writes on every partition and
  // returns its partitions. A broker learns of a topic a moment after
  // CreateTopics returns (KRaft: once it applies the controller's records),
  // and becomes each partition's leader a moment after its metadata says so:
  // kafkajs's waitForLeaders gives up on the UNKNOWN_TOPIC_OR_PARTITION in
  // between, and a first send that meets NOT_LEADER_OR_FOLLOWER on one
  // partition is retried whole, writing the other partitions twice. Listing
  // every partition's end offset answers only once its leader is live.
  async partitionsOf(admin, topic) {
    const settling = ['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'NOT_LEADER_OR_FOLLOWER']
    for (;;) {
      let err
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
        const partitions = topics[0].partitions
        if (partitions.length > 0 && partitions.every(p => p.leader >= 0)) {
          await admin.fetchTopicOffsets(topic)
          return partitions
        }
        err = new Error(`topic ${topic} has partitions without a leader`)
      } catch (e) {
        if (!settling.includes(errorCode(e))) throw e
        err = e
      }
      if (this.remaining() < 200) throw err
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  async consume() {
    const o = this.o
    const consumer = this.kafka.consumer({
      groupId: o.group || `node-${o.topic}`,
      // Stop and disconnect wait for the fetch in flight; keep its long poll short.
      maxWaitTimeInMs: 500,
      readUncommitted: o.isolation === 'read_uncommitted',
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    })
    const next = new Map() // partition -> next offset to commit
    let finish
    const finished = new Promise(resolve => {
      finish = resolve
    })
    await consumer.connect()
    try {
      await consumer.subscribe({ topics: [o.topic], fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic, partition, message }) => {
          if (this.consumed + this.consumeErrors >= o.count) return
          await this.handle(topic, partition, message)
          next.set(partition, (BigInt(message.offset) + 1n).toString())
          if (this.consumed + this.consumeErrors >= o.count) finish(true)
        },
      })
      const timer = setTimeout(() => finish(false), this.remaining())
      const ok = await finished
      clearTimeout(timer)
      if (next.size) {
        await consumer.commitOffsets([...next].map(([partition, offset]) => ({ topic: o.topic, partition, offset })))
      }
      if (!ok) {
        emit('error', { error: `timed out having consumed ${this.consumed + this.consumeErrors} of ${o.count}` })
        return ok
      }
      // The consumer does not expose its metadata; an admin client of the
      // same configuration asks the same listeners.
      const admin = this.kafka.admin()
      await admin.connect()
      try {
        await emitBrokers(admin)
      } finally {
        await admin.disconnect()
      }
      return ok
    } finally {
      await consumer.disconnect()
    }
  }

  async handle(topic, partition, message) {
    const ev = {
      topic,
      partition,
      offset: Number(message.offset),
      key: message.key === null ? null : message.key.toString(),
    }
    const v = message.value
    if (!this.registry) {
      this.consumed++
      emit('consumed', { ...ev, value: v === null ? null : v.toString() })
      return
    }
    try {
      const rec = await this.registry.decode(v)
      this.consumed++
      emit('consumed', { ...ev, schema_id: v.readUInt32BE(1), record: rec })
    } catch (e) {
      this.consumeErrors++
      emit('consume_error', { ...ev, code: 'DESERIALIZATION', error: String(e) })
    }
  }

  async run() {
    emit('start', {
      client: 'node',
      library: 'kafkajs',
      version: require('kafkajs/package.json').version,
      topic: this.o.topic,
    })
    if (this.o.mode !== 'consume') await this.produce()
    if (this.o.mode !== 'produce') return (await this.consume()) ? 0 : 1
    return 0
  }
}

async function main() {
  const h = new Harness(parse(process.argv.slice(2)))
  let rc
  try {
    rc = await h.run()
  } catch (e) {
    emit('error', { error: String(e && e.stack ? e.stack.split('\n')[0] : e), code: errorCode(e) })
    rc = 1
  }
  emit('done', {
    produced: h.produced,
    produce_errors: h.produceErrors,
    consumed: h.consumed,
    consume_errors: h.consumeErrors,
  })
  process.exitCode = rc
}

main()
