package compat

import "errors"

// ErrUnknownLevel means a compatibility level name is not one the
// registry defines.
var ErrUnknownLevel = errors.New("unknown compatibility level")
