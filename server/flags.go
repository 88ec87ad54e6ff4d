package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ValueError is a flag or environment variable given a value it cannot
// take. Its message names the setting, shows the value and says what form
// is expected:
//
//	HERALD_HEARTBEAT_INTERVAL="5": a duration with a unit, like 25s or 500ms (the unit is missing)
type ValueError struct {
	// Setting is the flag ("--heartbeat-interval") or the environment
	// variable ("HERALD_HEARTBEAT_INTERVAL") as the user wrote it.
	Setting string
	// Value is what was given.
	Value string
	// Want describes the expected form.
	Want string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("%s=%q: %s", e.Setting, e.Value, e.Want)
}

// SettingError is a setting Validate refused: the flag, and why (which
// shows the value and what is expected).
type SettingError struct {
	Flag   string // without dashes: "history-size"
	Reason string // "-1 must be >= 0"
	// FromEnv says the value came from the flag's HERALD_ variable: the
	// message then names the variable, which is what the user wrote.
	FromEnv bool
}

func (e *SettingError) Error() string {
	if e.FromEnv {
		return EnvName(e.Flag) + ": " + e.Reason
	}
	return "--" + e.Flag + ": " + e.Reason
}

// BlameEnv marks every SettingError in err (a single one or joined) whose
// flag is in fromEnv as coming from the environment.
func BlameEnv(err error, fromEnv map[string]bool) {
	var se *SettingError
	if errors.As(err, &se) && fromEnv[se.Flag] {
		se.FromEnv = true
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			BlameEnv(e, fromEnv)
		}
	}
}

// EnvName is the environment twin of a flag.
func EnvName(flagName string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv sets every flag of fs not given on the command line from its
// HERALD_ twin (--ws-addr from HERALD_WS_ADDR). Flags win over the
// environment. A value of the wrong form is a *ValueError naming the
// variable.
func ApplyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := EnvName(f.Name)
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, &ValueError{Setting: name, Value: v, Want: wantOf(f.Value, v, err)})
			}
		}
	})
	return errors.Join(errs...)
}

// ParseFlags parses args into fs as fs.Parse does, with two differences: a
// value of the wrong form comes back as a *ValueError, and fs prints
// nothing (no message, no usage), so the caller decides what to print.
// -h and --help still return flag.ErrHelp.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	// flag formats a bad value as `invalid value "5" for flag
	// -heartbeat-interval: parse error`, dropping the Value's own error:
	// each Value is wrapped to keep it.
	var bad *ValueError
	fs.VisitAll(func(f *flag.Flag) {
		if _, done := f.Value.(*explainedValue); !done {
			f.Value = &explainedValue{Value: f.Value, flag: f.Name, bad: &bad}
		}
	})
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if err != nil && bad != nil {
		return bad
	}
	return err
}

// explainedValue wraps a flag's Value to remember, when Set fails, which
// flag, which value and what form it expected.
type explainedValue struct {
	flag.Value
	flag string
	bad  **ValueError // shared by the values of one ParseFlags call
}

func (v *explainedValue) Set(s string) error {
	err := v.Value.Set(s)
	if err != nil {
		*v.bad = &ValueError{Setting: "--" + v.flag, Value: s, Want: wantOf(v.Value, s, err)}
	}
	return err
}

// IsBoolFlag keeps `--pprof` (no value) working for a wrapped bool flag.
func (v *explainedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// Get returns the wrapped value's, for flag.Getter users.
func (v *explainedValue) Get() any {
	if g, ok := v.Value.(flag.Getter); ok {
		return g.Get()
	}
	return nil
}

// FlagKind names the kind of value a flag takes ("duration", "int",
// "number", "bool", "string" or "value"), looking through ParseFlags'
// wrapper: for help texts.
func FlagKind(v flag.Value) string {
	if w, ok := v.(*explainedValue); ok {
		v = w.Value
	}
	g, ok := v.(flag.Getter)
	if !ok {
		return "value"
	}
	switch g.Get().(type) {
	case time.Duration:
		return "duration"
	case int, int64, uint, uint64:
		return "int"
	case float64:
		return "number"
	case bool:
		return "bool"
	case string:
		return "string"
	}
	return "value"
}

// wantOf describes the form a flag's value should have, for a value s
// that failed with err. For a type of its own (flag.Func, TextVar) the
// Value's error is the description.
func wantOf(v flag.Value, s string, err error) string {
	if w, ok := v.(*explainedValue); ok {
		v = w.Value
	}
	const duration = "a duration with a unit, like 25s or 500ms"
	switch FlagKind(v) {
	case "duration":
		if _, perr := strconv.ParseFloat(strings.TrimSpace(s), 64); perr == nil {
			return duration + " (the unit is missing)"
		}
		return duration
	case "int":
		if _, perr := strconv.ParseInt(s, 0, 64); errors.Is(perr, strconv.ErrRange) {
			return "a whole number, like 1000 (this one is out of range)"
		}
		if g, ok := v.(flag.Getter); ok {
			switch g.Get().(type) {
			case uint, uint64:
				return "a whole number >= 0, like 1000"
			}
		}
		return "a whole number, like 1000"
	case "number":
		return "a number, like 200 or 0.5"
	case "bool":
		return "true or false"
	}
	return err.Error()
}
