package main

import (
	"github.com/herald-push/herald/server/tokens"
)

// devCredentials loads (or, the first time, creates) the loopback dev
// mode's generated secret and API key: the file at path, or with path ""
// the default one the dev server uses ($HERALD_DEV_DIR, else the user
// config dir). token, listen, events and bench read it so that what they mint is
// accepted by `herald serve` with no configuration.
func devCredentials(path string) (tokens.DevCredentials, error) {
	if path == "" {
		p, err := tokens.DefaultDevCredentialsPath()
		if err != nil {
			return tokens.DevCredentials{}, err
		}
		path = p
	}
	dev, _, err := tokens.LoadOrCreateDevCredentials(path)
	return dev, err
}

// devCredentialsUsage is the help of the --dev-credentials flag of token,
// listen, events and bench.
const devCredentialsUsage = "dev credentials file, as `herald serve --dev-credentials` (default: $HERALD_DEV_CREDENTIALS, else dev-credentials.json in $HERALD_DEV_DIR or the user config dir)"
