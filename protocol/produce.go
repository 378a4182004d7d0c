package protocol

import (
	"encoding/binary"
	"fmt"
)

// ProduceAcks returns the acks field of a Produce request body (the bytes
// after the request header) for versions 3 and later: it skips the
// nullable transactional ID (compact when flexible) and reads the int16
// that follows. It reads nothing else, so it is safe on untrusted input.
func ProduceAcks(body []byte, flexible bool) (int16, error) {
	off := 0
	if flexible {
		n, m := binary.Uvarint(body)
		if m <= 0 {
			return 0, fmt.Errorf("produce transactional id: %w", ErrShortHeader)
		}
		off = m
		if n > 0 { // compact nullable: 0 is null, else length+1
			if n-1 > uint64(len(body)-off) {
				return 0, fmt.Errorf("produce transactional id of %d bytes: %w", n-1, ErrShortHeader)
			}
			off += int(n - 1)
		}
	} else {
		if len(body) < 2 {
			return 0, fmt.Errorf("produce transactional id: %w", ErrShortHeader)
		}
		n := int(int16(binary.BigEndian.Uint16(body)))
		off = 2
		if n > 0 {
			if n > len(body)-off {
				return 0, fmt.Errorf("produce transactional id of %d bytes: %w", n, ErrShortHeader)
			}
			off += n
		} else if n < -1 {
			return 0, fmt.Errorf("produce transactional id length %d is invalid", n)
		}
	}
	if len(body) < off+2 {
		return 0, fmt.Errorf("produce acks: %w", ErrShortHeader)
	}
	return int16(binary.BigEndian.Uint16(body[off:])), nil
}
