package server

import (
	"errors"
	"fmt"
	"strings"
)

// The checks of the settings list and what builds them. A check returns
// why a value is refused, or "" when it is fine.

// number is what the numeric checks take.
type number interface {
	~int | ~float64 | ~int64
}

// atLeast refuses numbers below min (and NaN).
func atLeast[T number](min T) func(T) string {
	return func(v T) string {
		if !(v >= min) {
			return "must be >= " + showBound(min)
		}
		return ""
	}
}

// above refuses numbers up to min (and NaN).
func above[T number](min T) func(T) string {
	return func(v T) string {
		if !(v > min) {
			return "must be > " + showBound(min)
		}
		return ""
	}
}

// atMost refuses numbers above max; why says where max comes from.
func atMost[T number](max T, why string) func(T) string {
	return func(v T) string {
		if v > max {
			return "must be at most " + showBound(max) + why
		}
		return ""
	}
}

// showBound writes a bound as a user would: 0 rather than 0s.
func showBound[T number](b T) string {
	if b == 0 {
		return "0"
	}
	return fmt.Sprint(b)
}

// oneOf refuses strings other than the names of values.
func oneOf[T fmt.Stringer](values ...T) func(string) error {
	return func(v string) error {
		var names []string
		for _, x := range values {
			if x.String() == v {
				return nil
			}
			names = append(names, x.String())
		}
		return errors.New("must be " + strings.Join(names, " or "))
	}
}

// ifSet makes a check of check, which says why a value is refused, that
// lets the empty string (unset) pass.
func ifSet(check func(v string) error) func(string) string {
	return func(v string) string {
		if v == "" {
			return ""
		}
		if err := check(v); err != nil {
			return err.Error()
		}
		return ""
	}
}

// eachEntry makes a check of a list of check, which says why an entry is
// refused: the reason names each bad entry by its place (1 for the first),
// not by its value, which may be a secret.
func eachEntry(check func(entry string) error) func([]string) string {
	return func(list []string) string {
		var why []string
		for i, e := range list {
			if err := check(e); err != nil {
				why = append(why, fmt.Sprintf("entry %d: %v", i+1, err))
			}
		}
		return strings.Join(why, "; ")
	}
}
