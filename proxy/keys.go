package proxy

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/protocol"
)

// API keys the proxy treats specially.
const (
	keyProduce                 int16 = 0
	keyFetch                   int16 = 1
	keyMetadata                int16 = 3
	keyEndTxn                  int16 = 26
	keyTxnOffsetCommit         int16 = 28
	keyFindCoordinator         int16 = 10
	keySaslHandshake           int16 = 17
	keyAPIVersions             int16 = 18
	keySaslAuthenticate        int16 = 36
	keyDescribeCluster         int16 = 60
	keyConsumerGroupHB         int16 = 68
	keyShareGroupHB            int16 = 76
	keyShareFetch              int16 = 78
	keyShareAcknowledge        int16 = 79
	keyStreamsGroupHB          int16 = 88
	keyDeleteTopics            int16 = 20
	keyDeleteRecords           int16 = 21
	keyAlterConfigs            int16 = 33
	keyCreatePartitions        int16 = 37
	keyIncrAlterConfigs        int16 = 44
	keyDescribeTopicPartitions int16 = 75
	maxFetchWithoutRewrite     int16 = 15 // Fetch v16 (KIP-951) adds NodeEndpoints
)

// interBroker lists the API keys that only brokers and controllers send to
// each other. They are dropped from ApiVersions and close a client
// connection that sends them.
var interBroker = map[int16]bool{
	4:  true, // LeaderAndIsr
	5:  true, // StopReplica
	6:  true, // UpdateMetadata
	7:  true, // ControlledShutdown
	27: true, // WriteTxnMarkers
	52: true, // Vote
	53: true, // BeginQuorumEpoch
	54: true, // EndQuorumEpoch
	56: true, // AlterPartition
	58: true, // Envelope
	59: true, // FetchSnapshot
	62: true, // BrokerRegistration
	63: true, // BrokerHeartbeat
	67: true, // AllocateProducerIDs
	70: true, // ControllerRegistration
	73: true, // AssignReplicasToDirs
	82: true, // UpdateRaftVoter
	83: true, // InitializeShareGroupState
	84: true, // ReadShareGroupState
	85: true, // WriteShareGroupState
	86: true, // DeleteShareGroupState
	87: true, // ReadShareGroupStateSummary
}

func apiName(key int16) string { return kmsg.NameForKey(key) }

// needsRewrite reports whether responses to (key, version) can carry broker
// addresses, or are ApiVersions, and so must be decoded.
func needsRewrite(key, version int16) bool {
	switch key {
	case keyAPIVersions, keyMetadata, keyFindCoordinator, keyDescribeCluster, keyShareFetch, keyShareAcknowledge:
		return true
	case keyProduce:
		// Kafka sends NodeEndpoints from v10; kmsg, and so franz-go, reads
		// them from v9 (the first flexible version), and other brokers
		// may send them there.
		return version >= 9
	case keyFetch:
		return version > maxFetchWithoutRewrite
	}
	return false
}

// neverAdvertised returns an error for a request version the proxy never
// advertises, whatever the broker offers: an unknown key, a version above
// what kmsg decodes, or Produce above maxProduceVersion. Produce v13 is
// refused with or without a checker, so a client meets the same proxy
// whatever its configuration. Fetch v16+ is not refused: it is rewritten
// (rewriteFetch).
func neverAdvertised(key, version int16) error {
	if _, err := protocol.RequestFlexible(key, version); err != nil {
		return err
	}
	if key == keyProduce && version > maxProduceVersion {
		return fmt.Errorf("%s v%d: %w", apiName(key), version, protocol.ErrUnsupportedVersion)
	}
	return nil
}
