package server

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/pushsvc/engine/redis"
	"github.com/herald-push/herald/server/grpcapi"
	"github.com/herald-push/herald/server/tokens"
	"github.com/herald-push/herald/server/wsgate"
)

// settings is the settings list: every setting of `herald serve`, declared
// once, by topic, in the settings_*.go files, in the order the README's
// table shows them. Defaults, RegisterFlags (hence --help and the
// HERALD_ variables), Validate, the packages' options and the README's
// tables (TestREADMESettingsTables) all derive from it.
var settings = slices.Concat(listenSettings, authSettings, webSocketSettings, deliverySettings, grpcSettings, nodeSettings, eventsSettings)

// setting is one entry of the list: a *spec of some type.
type setting interface {
	name() string
	setDefault(c *Config)
	register(fs *flag.FlagSet, c *Config)
	validate(c *Config) []error
	apply(c *Config, o *options)
	field(c *Config) any
	doc() settingDoc
}

// spec declares one setting, whose value is of type T.
type spec[T any] struct {
	// Flag is the flag's name, without dashes; the environment variable
	// is EnvName(Flag).
	Flag string
	// Help says what the setting does, for --help and the README; a
	// `word` in back quotes names the value in --help.
	Help string
	// Field is the Config field the setting fills.
	Field func(c *Config) *T
	// Default is the field's value in Defaults: the package's own default
	// constant where a package has one.
	Default T
	// Shown is the default as --help and the README say it, where Default
	// does not say it ("generated", "twice the rate").
	Shown string
	// Off, for a number, says that 0 on the command line turns it off, and
	// what that means ("no limit"); the packages get -1 instead, which
	// their options read as off. Without Off, 0 goes to the package as
	// it is: its default, unless a check refuses it.
	Off string
	// Over, for a limit, says what happens over it: the README's Limits
	// table lists the settings that have it.
	Over string
	// Checks each return why a value is refused, or "". The error shows
	// the value before the reason, unless Secret or T is a list.
	Checks []func(v T) string
	// Secret keeps the value out of error messages.
	Secret bool
	// Parse reads a value of a type the flag package has no flag for.
	Parse func(s string) (T, error)
	// To puts the value where it goes in the packages' options. Without
	// it, the server reads the field itself (listeners, TLS, drain).
	To func(o *options, v T)
}

// options are the packages' options the settings fill, each in its
// package's convention (zero: the package's default; negative: off).
// build adds what is not a setting: the service, the logger, metrics.
type options struct {
	svc    pushsvc.Options
	ws     wsgate.Options
	grpc   grpcapi.Options
	tokens tokens.Options
	redis  redis.Options // used with a redis-url
}

// options returns the packages' options c sets.
func (c *Config) options() options {
	var o options
	for _, s := range settings {
		s.apply(c, &o)
	}
	return o
}

func (s *spec[T]) name() string         { return s.Flag }
func (s *spec[T]) field(c *Config) any  { return s.Field(c) }
func (s *spec[T]) setDefault(c *Config) { *s.Field(c) = s.Default }

// meaning is Help, with what 0 means when it turns the setting off.
func (s *spec[T]) meaning() string {
	if s.Off != "" {
		return s.Help + " (0: " + s.Off + ")"
	}
	return s.Help
}

func (s *spec[T]) register(fs *flag.FlagSet, c *Config) {
	usage := s.meaning()
	if s.Shown != "" {
		// flag shows Default itself when it is not the zero value.
		usage += " (default " + s.Shown + ")"
	}
	switch p := any(s.Field(c)).(type) {
	case *string:
		fs.StringVar(p, s.Flag, *p, usage)
	case *int:
		fs.IntVar(p, s.Flag, *p, usage)
	case *float64:
		fs.Float64Var(p, s.Flag, *p, usage)
	case *bool:
		fs.BoolVar(p, s.Flag, *p, usage)
	case *time.Duration:
		fs.DurationVar(p, s.Flag, *p, usage)
	default:
		dst := s.Field(c)
		fs.Func(s.Flag, usage, func(v string) error {
			x, err := s.Parse(v)
			if err == nil {
				*dst = x
			}
			return err
		})
	}
}

func (s *spec[T]) validate(c *Config) []error {
	v := *s.Field(c)
	var errs []error
	for _, check := range s.Checks {
		why := check(v)
		if why == "" {
			continue
		}
		if shown := s.show(v); shown != "" {
			why = shown + " " + why
		}
		if s.Off != "" {
			why += " (0: " + s.Off + ")"
		}
		errs = append(errs, &SettingError{Flag: s.Flag, Reason: why})
	}
	return errs
}

// show is v as an error message shows it: "" for a secret or a list
// (their checks name the entry).
func (s *spec[T]) show(v T) string {
	if s.Secret {
		return ""
	}
	switch x := any(v).(type) {
	case string:
		return strconv.Quote(x)
	case []string:
		return ""
	}
	return fmt.Sprint(v)
}

func (s *spec[T]) apply(c *Config, o *options) {
	if s.To == nil {
		return
	}
	v := *s.Field(c)
	if s.Off != "" {
		v = offIfZero(v)
	}
	s.To(o, v)
}

// offIfZero turns 0, which turns a number off on the command line, into
// -1: in every package's options a negative number turns the setting off
// (wsgate.NoLimit, engine.NoHistory).
func offIfZero[T any](v T) T {
	switch p := any(&v).(type) {
	case *int:
		if *p == 0 {
			*p = -1
		}
	case *float64:
		if *p == 0 {
			*p = -1
		}
	case *time.Duration:
		if *p == 0 {
			*p = -1
		}
	default:
		panic(fmt.Sprintf("server: setting with Off is a %T, not a number", v))
	}
	return v
}

// settingDoc is what the README's tables say of a setting.
type settingDoc struct {
	flag    string
	meaning string // as --help says it, without back quotes
	def     string // Default as a value; "" for an empty string or list
	shown   string // Shown
	zero    string // numbers: what 0 means; "" for other types
	over    string
}

func (s *spec[T]) doc() settingDoc {
	d := settingDoc{flag: s.Flag, meaning: strings.ReplaceAll(s.meaning(), "`", ""), shown: s.Shown, over: s.Over}
	switch x := any(s.Default).(type) {
	case string:
		d.def = x
	case []string:
		d.def = strings.Join(x, ",")
	default:
		d.def = fmt.Sprint(x)
	}
	var zero T
	switch any(zero).(type) {
	case int, float64, time.Duration:
		d.zero = "the default"
		if s.Off != "" {
			d.zero = s.Off
		}
		for _, check := range s.Checks {
			if why := check(zero); why != "" {
				d.zero = "refused (" + why + ")"
				break
			}
		}
	}
	return d
}

// splitList reads a comma-separated list, dropping empty entries.
func splitList(v string) ([]string, error) {
	var list []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	return list, nil
}
