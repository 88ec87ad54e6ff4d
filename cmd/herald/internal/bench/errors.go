package bench

import "errors"

// ErrConfig wraps every error Run returns for a bad Config: nothing was
// started.
var ErrConfig = errors.New("bench: bad configuration")
