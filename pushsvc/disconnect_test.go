package pushsvc

import "testing"

// TestCloseCodesAreTheContract pins the close codes to the contract (the
// README's "Close codes" table):
// every other test uses the names, so this is where a wrong number shows.
func TestCloseCodesAreTheContract(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"CodeNormal", CodeNormal, 1000},
		{"CodeGoingAway", CodeGoingAway, 1001},
		{"CodeProtocolError", CodeProtocolError, 1002},
		{"CodeTextFrame", CodeTextFrame, 1003},
		{"CodeBadFrame", CodeBadFrame, 1007},
		{"CodePolicy", CodePolicy, 1008},
		{"CodeTooBig", CodeTooBig, 1009},
		{"CodeInternal", CodeInternal, 1011},
		{"CodeTryLater", CodeTryLater, 1013},
		{"CodeTokenExpired", CodeTokenExpired, 4001},
		{"CodeKicked", CodeKicked, 4002},
		{"CodeSlowConsumer", CodeSlowConsumer, 4003},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, the contract says %d", c.name, c.got, c.want)
		}
	}
}
