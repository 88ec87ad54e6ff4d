package server

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update", false, "rewrite README.md's settings tables from the settings list")

// readmePath is the README whose tables the settings list writes.
const readmePath = "../README.md"

// TestREADMESettingsTables: README.md's configuration table and its
// Limits table say what the settings list says. `make readme` (go test
// ./server -run TestREADMESettingsTables -update) rewrites them.
func TestREADMESettingsTables(t *testing.T) {
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	have := string(b)
	want := have
	for _, table := range []struct{ name, body string }{
		{"settings", settingsTable()},
		{"limits", limitsTable()},
	} {
		if want, err = replaceTable(want, table.name, table.body); err != nil {
			t.Fatal(err)
		}
	}
	if *updateREADME {
		if want != have {
			if err := os.WriteFile(readmePath, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	if want != have {
		t.Errorf("README.md's settings tables differ from the settings list; run `make readme`.\n%s", lineDiff(have, want))
	}
}

// replaceTable puts body between the README's markers of the table name.
func replaceTable(readme, name, body string) (string, error) {
	begin := fmt.Sprintf("<!-- %s table: written by `make readme` from server/settings_*.go -->\n", name)
	end := fmt.Sprintf("<!-- end of %s table -->", name)
	i := strings.Index(readme, begin)
	j := strings.Index(readme, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("%s: no %q ... %q markers", readmePath, strings.TrimSpace(begin), end)
	}
	return readme[:i+len(begin)] + body + readme[j:], nil
}

// settingsTable is the Configuration section's table: every setting.
func settingsTable() string {
	var b strings.Builder
	b.WriteString("| flag | env | default | meaning |\n|---|---|---|---|\n")
	for _, s := range settings {
		d := s.doc()
		def := d.shown
		if def == "" && d.def != "" {
			def = "`" + d.def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", d.flag, EnvName(d.flag), cell(def), cell(d.meaning))
	}
	return b.String()
}

// limitsTable is the Security section's table of limits: the settings
// that say what happens over them.
func limitsTable() string {
	var b strings.Builder
	b.WriteString("| limit | default | 0 means | over it |\n|---|---|---|---|\n")
	for _, s := range settings {
		d := s.doc()
		if d.over == "" {
			continue
		}
		def := d.shown
		if def == "" {
			def = d.def
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", d.flag, cell(def), cell(d.zero), cell(d.over))
	}
	return b.String()
}

// cell escapes what would end a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// lineDiff lists the lines of want that have does not have, and the
// other way round.
func lineDiff(have, want string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	h, w := in(have), in(want)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !h[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	for _, l := range strings.Split(have, "\n") {
		if !w[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	return b.String()
}
