package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	json "github.com/goccy/go-json"
)

// Row is one line of the report: a result next to the floor measured in
// the same run.
type Row struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Result   float64 `json:"result"`
	Unit     string  `json:"unit"`
	// Floor is what the same work costs without alerter (0: none).
	Floor     float64 `json:"floor,omitempty"`
	FloorName string  `json:"floor_name,omitempty"`
	// Floor2 is a second floor, shown beside the first; the ratio is to
	// the first.
	Floor2     float64 `json:"floor2,omitempty"`
	Floor2Name string  `json:"floor2_name,omitempty"`
	// Ratio is Result / Floor: for rates the share of the floor reached
	// (higher is better), for latencies and memory how many times the
	// floor it takes (lower is better).
	Ratio  float64 `json:"ratio,omitempty"`
	Target string  `json:"target,omitempty"`
	// Pass is nil for rows without a target.
	Pass *bool `json:"pass,omitempty"`
}

// Report is what a run measured.
type Report struct {
	Started   time.Time      `json:"started"`
	GoVersion string         `json:"go_version"`
	CPUs      int            `json:"cpus"`
	Settings  map[string]any `json:"settings"`
	Rows      []Row          `json:"rows"`
	// Details are per scenario numbers that do not fit the table.
	Details map[string]map[string]any `json:"details"`
}

func (r *Report) add(row Row) {
	if row.Floor > 0 && row.Ratio == 0 {
		row.Ratio = row.Result / row.Floor
	}
	r.Rows = append(r.Rows, row)
}

func (r *Report) detail(scenario, key string, v any) {
	if r.Details == nil {
		r.Details = map[string]map[string]any{}
	}
	if r.Details[scenario] == nil {
		r.Details[scenario] = map[string]any{}
	}
	r.Details[scenario][key] = v
}

func pass(ok bool) *bool { return &ok }

func (r *Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *Report) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tmetric\tresult\tfloor\tratio\ttarget\tpass\t")
	for _, row := range r.Rows {
		floor, ratio := "—", "—"
		if row.Floor > 0 {
			floor = num(row.Floor, row.Unit) + " " + row.FloorName
			if row.Floor2 > 0 {
				floor += "; " + num(row.Floor2, row.Unit) + " " + row.Floor2Name
			}
			switch row.Unit {
			case "ms", "B":
				ratio = fmt.Sprintf("%.1f×", row.Ratio)
			default:
				ratio = fmt.Sprintf("%.0f%%", 100*row.Ratio)
			}
		}
		p := "—"
		if row.Pass != nil {
			p = map[bool]string{true: "PASS", false: "FAIL"}[*row.Pass]
		}
		target := row.Target
		if target == "" {
			target = "—"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.Scenario, row.Metric, num(row.Result, row.Unit), floor, ratio, target, p)
	}
	_ = tw.Flush()
	keys := make([]string, 0, len(r.Details))
	for k := range r.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		d := r.Details[k]
		names := make([]string, 0, len(d))
		for n := range d {
			names = append(names, n)
		}
		slices.Sort(names)
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s=%v", n, d[n]))
		}
		fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(parts, " "))
	}
}

// num formats a value with its unit, with thousands separators.
func num(v float64, unit string) string {
	switch unit {
	case "ms":
		return fmt.Sprintf("%.2f ms", v)
	case "B":
		return fmt.Sprintf("%s B", group(v))
	}
	return fmt.Sprintf("%s %s", group(v), unit)
}

func group(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	neg := v < 0
	s := fmt.Sprintf("%.0f", math.Abs(v))
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// percentiles of samples (sorted in place): nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
