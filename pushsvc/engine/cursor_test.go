package engine

import (
	"errors"
	"slices"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []Cursor{
		{Log: 1, Parts: []EventID{{}}},
		{Log: 1<<64 - 1, Parts: []EventID{{Ms: 1, Seq: 1}}},
		{Log: 42, Parts: []EventID{{Ms: 1_800_000_000_123, Seq: 7}, {}, {Ms: 1_800_000_000_000, Seq: 1 << 40}, {Ms: 1, Seq: 0}}},
	} {
		s := c.String()
		got, err := ParseCursor(s)
		if err != nil || got.Log != c.Log || !slices.Equal(got.Parts, c.Parts) {
			t.Errorf("%+v -> %q -> %+v, %v", c, s, got, err)
		}
	}
	sixteen := Cursor{Log: 7, Parts: make([]EventID, 16)}
	for i := range sixteen.Parts {
		sixteen.Parts[i] = EventID{Ms: 1_800_000_000_000 + uint64(i)*1000, Seq: 100_000 + uint64(i)}
	}
	if n := len(sixteen.String()); n > 128 {
		t.Errorf("a cursor of 16 partitions takes %d characters, want at most 128", n)
	}
}

func TestParseCursorRefusesGarbage(t *testing.T) {
	good := Cursor{Log: 9, Parts: []EventID{{Ms: 5, Seq: 1}}}.String()
	for _, s := range []string{"", "x", "!!!!", good[:len(good)-1], good + "AA", "AQAAAAAAAAAJAA"} {
		if _, err := ParseCursor(s); !errors.Is(err, ErrBadCursor) {
			t.Errorf("ParseCursor(%q) = %v, want ErrBadCursor", s, err)
		}
	}
}

// FuzzParseCursor: any string either fails with ErrBadCursor or decodes
// to a cursor that encodes back to a cursor equal to it.
func FuzzParseCursor(f *testing.F) {
	f.Add(Cursor{Log: 3, Parts: []EventID{{Ms: 10, Seq: 2}, {}}}.String())
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("error %v is not ErrBadCursor", err)
			}
			return
		}
		again, err := ParseCursor(c.String())
		if err != nil || again.Log != c.Log || !slices.Equal(again.Parts, c.Parts) {
			t.Fatalf("%q -> %+v does not round-trip: %+v %v", s, c, again, err)
		}
	})
}
