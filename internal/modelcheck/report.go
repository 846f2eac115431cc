package modelcheck

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Report is what a failing test prints: the seed and settings to replay,
// each invariant broken, and the history of the first violation's sessions.
func (f *Failure) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model checker: %d violation(s) with %s\n", len(f.Violations), f.Config)
	seen := map[string]bool{}
	for _, v := range f.Violations {
		if !seen[v.Invariant] {
			seen[v.Invariant] = true
			fmt.Fprintf(&b, "  first %s: %s\n", v.Invariant, v.Msg)
		}
	}
	b.WriteString(Format(f.History, f.Violations[0]))
	return b.String()
}

// Involved returns the operations a reader needs to understand v: the
// offending ones, every operation that sent or was handed one of their
// tokens or the tokens those came from, and the revocations of the users
// involved that ran meanwhile, in the order they started.
func Involved(h *History, v Violation) []*Op {
	issuer := map[string]*Op{}
	byID := map[string]string{} // session ID → token
	for _, op := range h.Ops {
		if op.Got != "" {
			if first, ok := issuer[op.Got]; !ok || op.Start < first.Start {
				issuer[op.Got] = op
			}
			byID[sessionID(op.Got)] = op.Got
		}
	}
	tokens := map[string]bool{}
	users := map[string]bool{}
	offending := map[int]bool{}
	for _, i := range v.Ops {
		op := h.Ops[i]
		offending[i] = true
		tokens[op.Sent], tokens[op.Got] = true, true
		for _, id := range append(op.IDs, op.Target) {
			tokens[byID[id]] = true // the sessions an admin operation named
		}
		if op.User != "" {
			users[op.User] = true
		}
	}
	for range 2 { // and the tokens they came from, two rotations back
		for tok := range tokens {
			if is := issuer[tok]; is != nil {
				tokens[is.Sent] = true
			}
		}
	}
	delete(tokens, "")
	var out []*Op
	from, to := int64(-1), int64(0)
	for _, op := range h.Ops {
		if offending[op.Index] || tokens[op.Sent] || tokens[op.Got] {
			out = append(out, op)
			if from < 0 || op.Start < from {
				from = op.Start
			}
			to = max(to, op.End)
		}
	}
	for _, op := range h.Ops {
		admin := op.Kind == DestroySession || op.Kind == DestroyUser || op.Kind == UserSessions
		if admin && !offending[op.Index] && users[op.User] && op.End > from && op.Start < to {
			out = append(out, op)
		}
	}
	sortByStart(out)
	return out
}

func sortByStart(ops []*Op) {
	slices.SortFunc(ops, func(a, b *Op) int { return cmp.Compare(a.Start, b.Start) })
}

// Format prints v and the part of h it involves.
func Format(h *History, v Violation) string {
	var b strings.Builder
	b.WriteString(v.String())
	b.WriteString("\n  offending ops: ")
	for i, o := range v.Ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("#" + strconv.Itoa(o))
	}
	b.WriteString("\n  history of the sessions involved (by start):\n")
	for _, op := range Involved(h, v) {
		b.WriteString("    " + op.String() + "\n")
	}
	return b.String()
}
