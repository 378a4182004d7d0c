package proxy

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// protectIncrementalAlterConfigs refuses changing the configuration of
// protected topics (TOPIC resources; validate_only requests too).
func protectIncrementalAlterConfigs(_ *pair, chk Checker, r kmsg.Request) (func(kmsg.Response) bool, int, int) {
	req := r.(*kmsg.IncrementalAlterConfigsRequest)
	var refused []kmsg.IncrementalAlterConfigsResponseResource
	res := req.Resources[:0]
	for _, rr := range req.Resources {
		if rr.ResourceType == kmsg.ConfigResourceTypeTopic && chk.Protected(rr.ResourceName) {
			rs := kmsg.NewIncrementalAlterConfigsResponseResource()
			msg := protectedMessage(rr.ResourceName)
			rs.ResourceType, rs.ResourceName, rs.ErrorCode, rs.ErrorMessage = rr.ResourceType, rr.ResourceName, codeTopicAuthFailed, &msg
			refused = append(refused, rs)
			continue
		}
		res = append(res, rr)
	}
	req.Resources = res
	patch := func(r kmsg.Response) bool {
		resp := r.(*kmsg.IncrementalAlterConfigsResponse)
		resp.Resources = append(resp.Resources, refused...)
		return len(refused) > 0
	}
	return patch, len(refused), len(req.Resources)
}
