package proxy

// The connection log limit, for tests outside the package.
const (
	ConnLogRate  = connLogRate
	ConnLogBurst = connLogBurst
)
