package ingest

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// maxExamples is how many example rows a report keeps for each rejection
// reason.
const maxExamples = 3

// Loc is where a row came from.
type Loc struct {
	File string `json:"file"`
	// Line is the 1-based line number of the row's first line.
	Line int `json:"line"`
}

// Example is one rejected row, kept so the report can show what went wrong.
type Example struct {
	Loc
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Written counts the records an import wrote: events newly stored, items and
// users inserted or replaced (including those derived from events).
type Written struct {
	Items  int `json:"items"`
	Users  int `json:"users"`
	Events int `json:"events"`
}

// Report is the cleaning report of an import. Every row read is counted once
// as accepted, rejected or duplicate: Read = Accepted + Rejected + Duplicates.
type Report struct {
	Format string   `json:"format"`
	Files  []string `json:"files"`
	// Read is the number of data rows read (header lines and blank lines
	// are not rows).
	Read int `json:"read"`
	// Accepted rows were stored (or, for events, are newly stored).
	Accepted int `json:"accepted"`
	// Rejected rows were not stored; RejectedByReason says why.
	Rejected int `json:"rejected"`
	// Duplicates are event rows whose event id was already stored, or came
	// earlier in the same import.
	Duplicates       int                  `json:"duplicates"`
	RejectedByReason map[string]int       `json:"rejected_by_reason"`
	Examples         map[string][]Example `json:"examples,omitempty"`
	// Transformed counts the changes made to accepted data, by kind.
	Transformed map[string]int `json:"transformed,omitempty"`
	Written     Written        `json:"written"`
	// Items, Users and Events are what the store holds after the import.
	Items  int `json:"items"`
	Users  int `json:"users"`
	Events int `json:"events"`
	// ElapsedSeconds is the wall time of the whole import, commit included.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// RowsPerSecond is Read / ElapsedSeconds.
	RowsPerSecond float64 `json:"rows_per_second"`
	// Notes are remarks about the input as a whole.
	Notes []string `json:"notes,omitempty"`
}

func newReport(format string, files []string) *Report {
	return &Report{
		Format:           format,
		Files:            files,
		RejectedByReason: map[string]int{},
		Examples:         map[string][]Example{},
		Transformed:      map[string]int{},
	}
}

func (r *Report) reject(loc Loc, reason, field, msg string) {
	r.Read++
	r.Rejected++
	r.RejectedByReason[reason]++
	if len(r.Examples[reason]) < maxExamples {
		r.Examples[reason] = append(r.Examples[reason], Example{Loc: loc, Field: field, Message: msg})
	}
}

// WriteText writes the report for a person to read.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Import report (%s): %s\n", r.Format, strings.Join(r.Files, ", "))
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  rows read\t%d\t\n", r.Read)
	fmt.Fprintf(tw, "  accepted\t%d\t\n", r.Accepted)
	fmt.Fprintf(tw, "  rejected\t%d\t\n", r.Rejected)
	fmt.Fprintf(tw, "  duplicates dropped\t%d\t\n", r.Duplicates)
	tw.Flush()
	if len(r.RejectedByReason) > 0 {
		b.WriteString("Rejected, by reason:\n")
		for _, reason := range sortedByCount(r.RejectedByReason) {
			fmt.Fprintf(&b, "  %-28s %9d\n", reason, r.RejectedByReason[reason])
			for _, ex := range r.Examples[reason] {
				where := fmt.Sprintf("%s:%d", ex.File, ex.Line)
				if ex.Field != "" {
					where += " " + ex.Field
				}
				fmt.Fprintf(&b, "      %s: %s\n", where, ex.Message)
			}
		}
	}
	if len(r.Transformed) > 0 {
		b.WriteString("Transformed:\n")
		for _, what := range sortedByCount(r.Transformed) {
			fmt.Fprintf(&b, "  %-28s %9d\n", what, r.Transformed[what])
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	fmt.Fprintf(&b, "Written: %d items, %d users, %d new events\n", r.Written.Items, r.Written.Users, r.Written.Events)
	fmt.Fprintf(&b, "The store now holds %d items, %d users, %d events.\n", r.Items, r.Users, r.Events)
	fmt.Fprintf(&b, "Took %.2f s (%.0f rows/s).\n", r.ElapsedSeconds, r.RowsPerSecond)
	_, err := io.WriteString(w, b.String())
	return err
}

func sortedByCount(m map[string]int) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	return keys
}
