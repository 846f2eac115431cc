package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// instrCounts is what the last `make instr` (cmd/instrcount) measured, read
// back from its report: instructions per request on /none, the one figure of
// the untouched route that does not move with the machine's noise.
type instrCounts struct {
	when string
	rows map[string][]string // app: its table row's cells
}

var instrWhenRE = regexp.MustCompile(`on (\d{4}-\d{2}-\d{2} \d{2}:\d{2} [A-Z]+)`)

// readInstrCounts reads results/instructions.md; nil if there is none.
func readInstrCounts(results string) *instrCounts {
	data, err := os.ReadFile(filepath.Join(results, "instructions.md"))
	if err != nil {
		return nil
	}
	ic := &instrCounts{rows: map[string][]string{}}
	if m := instrWhenRE.FindSubmatch(data); m != nil {
		ic.when = string(m[1])
	}
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) == 4 && !strings.HasPrefix(cells[0], "---") && cells[0] != "app" {
			ic.rows[cells[0]] = cells
		}
	}
	return ic
}

// text is app's figure for the /none target's row, or "".
func (ic *instrCounts) text(app string) string {
	if ic == nil {
		return ""
	}
	r, ok := ic.rows[app]
	if !ok {
		return ""
	}
	return "; instructions per request under callgrind (`make instr`, " + ic.when + ", bench/results/instructions.md): " +
		r[1] + ", " + r[2] + " over the no-library app, " + r[3] + " over the floor"
}
