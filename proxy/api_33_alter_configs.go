package proxy

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// protectAlterConfigs refuses changing the configuration of protected
// topics (TOPIC resources; validate_only requests too).
func protectAlterConfigs(_ *pair, chk Checker, r kmsg.Request) (func(kmsg.Response) bool, int, int) {
	req := r.(*kmsg.AlterConfigsRequest)
	var refused []kmsg.AlterConfigsResponseResource
	res := req.Resources[:0]
	for _, rr := range req.Resources {
		if rr.ResourceType == kmsg.ConfigResourceTypeTopic && chk.Protected(rr.ResourceName) {
			rs := kmsg.NewAlterConfigsResponseResource()
			msg := protectedMessage(rr.ResourceName)
			rs.ResourceType, rs.ResourceName, rs.ErrorCode, rs.ErrorMessage = rr.ResourceType, rr.ResourceName, codeTopicAuthFailed, &msg
			refused = append(refused, rs)
			continue
		}
		res = append(res, rr)
	}
	req.Resources = res
	patch := func(r kmsg.Response) bool {
		resp := r.(*kmsg.AlterConfigsResponse)
		resp.Resources = append(resp.Resources, refused...)
		return len(refused) > 0
	}
	return patch, len(refused), len(req.Resources)
}
