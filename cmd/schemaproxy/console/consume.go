package console

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Consume polls cl, which must be configured to consume, and calls each
// for every record, in the order fetched, until max records were seen
// (max <= 0: no limit) or ctx ends. It returns how many it saw; the
// error is nil when max was reached or ctx ended, else the first fetch
// error.
func Consume(ctx context.Context, cl *kgo.Client, max int, each func(*kgo.Record)) (int, error) {
	n := 0
	for max <= 0 || n < max {
		fetches := cl.PollRecords(ctx, max-n)
		if ctx.Err() != nil {
			break
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("fetching %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return n, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if max <= 0 || n < max {
				each(r)
				n++
			}
		})
	}
	return n, nil
}

// previewBytes is how much of a value Describe shows.
const previewBytes = 40

// Describe returns one line about r: where it is, its key, the schema ID
// of a Confluent-framed value (magic 0 and a 4-byte ID: Avro and JSON
// Schema; Protobuf's message indexes stay in the preview), the value's
// length and the start of what follows the framing, quoted as Go quotes
// strings, so both text and binary stay readable.
func Describe(r *kgo.Record) string {
	line := fmt.Sprintf("%s[%d] offset %d:", r.Topic, r.Partition, r.Offset)
	if r.Key != nil {
		line += " key " + preview(r.Key) + ","
	}
	if r.Value == nil {
		return line + " value null (tombstone)"
	}
	body := r.Value
	if len(body) >= 5 && body[0] == 0 {
		line += fmt.Sprintf(" schema id %d,", binary.BigEndian.Uint32(body[1:5]))
		body = body[5:]
	}
	return fmt.Sprintf("%s %d bytes: %s", line, len(r.Value), preview(body))
}

func preview(b []byte) string {
	if len(b) <= previewBytes {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:previewBytes])) + "..."
}
