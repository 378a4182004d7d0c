package proc

import "errors"

// ErrExited means a child ended before printing the line waited for; the
// exit status follows it when the child failed.
var ErrExited = errors.New("exited early")

// ErrSilent means a child printed no line within the time allowed.
var ErrSilent = errors.New("printed nothing")
