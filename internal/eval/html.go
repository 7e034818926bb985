package eval

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
)

// Report is the outcome of one evaluation, as 'tailor eval --json' writes
// it.
type Report struct {
	Dataset  string   `json:"dataset"`
	Protocol string   `json:"protocol"`
	Seed     uint64   `json:"seed"`
	Folds    int      `json:"folds"`
	Ks       []int    `json:"ks"`
	Results  []Result `json:"results"`
	// Front, when set, names the models on the Pareto front of a
	// selection (tailor select): the trade-off chart draws it, by p99.
	Front []string `json:"pareto_front,omitempty"`
}

// palette colours the models of a chart.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"}

// chart is one SVG line, bar or scatter chart.
type chart struct {
	Title string
	SVG   template.HTML
}

const (
	chartW, chartH = 520, 260
	padL, padR     = 56, 116
	padT, padB     = 28, 44
)

// frame draws axes with ticks for the ranges [x0,x1]×[y0,y1] and returns
// the SVG and functions that map data to pixels.
func frame(b *strings.Builder, title, xlabel, ylabel string, x0, x1, y0, y1 float64, xticks []float64) (fx, fy func(float64) float64) {
	if x1 == x0 {
		x0, x1 = x0-1, x1+1
	}
	if y1 == y0 {
		y1 = y0 + 1
	}
	fx = func(x float64) float64 { return padL + (x-x0)/(x1-x0)*float64(chartW-padL-padR) }
	fy = func(y float64) float64 { return float64(chartH-padB) - (y-y0)/(y1-y0)*float64(chartH-padT-padB) }
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`, chartW, chartH)
	fmt.Fprintf(b, `<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>`, padL, template.HTMLEscapeString(title))
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`, padL, chartH-padB, chartW-padR, chartH-padB)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`, padL, padT, padL, chartH-padB)
	for i := 0; i <= 4; i++ {
		y := y0 + (y1-y0)*float64(i)/4
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`,
			padL, fy(y), chartW-padR, fy(y), padL-4, fy(y)+4, short(y))
	}
	for _, x := range xticks {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, fx(x), chartH-padB+14, short(x))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, (padL+chartW-padR)/2, chartH-8, template.HTMLEscapeString(xlabel))
	fmt.Fprintf(b, `<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`, (padT+chartH-padB)/2, (padT+chartH-padB)/2, template.HTMLEscapeString(ylabel))
	return fx, fy
}

func short(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e6:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func legend(b *strings.Builder, names []string) {
	for i, n := range names {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`,
			chartW-padR+12, padT+4+i*14, palette[i%len(palette)], chartW-padR+26, padT+13+i*14, template.HTMLEscapeString(n))
	}
}

// metricChart plots a metric against K, one line per model.
func metricChart(rep Report, metric string) chart {
	var b strings.Builder
	ymax := 0.0
	for _, r := range rep.Results {
		for _, k := range rep.Ks {
			ymax = math.Max(ymax, r.Metrics[Key(metric, k)])
		}
	}
	xs := make([]float64, len(rep.Ks))
	for i, k := range rep.Ks {
		xs[i] = float64(k)
	}
	fx, fy := frame(&b, metric+" against K", "K", metric, xs[0], xs[len(xs)-1], 0, niceCeil(ymax), xs)
	var names []string
	for mi, r := range rep.Results {
		names = append(names, r.Model)
		var pts []string
		for _, k := range rep.Ks {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", fx(float64(k)), fy(r.Metrics[Key(metric, k)])))
		}
		c := palette[mi%len(palette)]
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, c, strings.Join(pts, " "))
		for _, p := range pts {
			xy := strings.Split(p, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, xy[0], xy[1], c)
		}
	}
	legend(&b, names)
	b.WriteString("</svg>")
	return chart{Title: metric, SVG: template.HTML(b.String())}
}

// latencyChart shows each model's latency distribution as a box plot:
// whiskers from p10 to p90, the box from p25 to p75, a line at p50 and a
// dot at p99.
func latencyChart(rep Report) chart {
	var b strings.Builder
	ymax := 0.0
	for _, r := range rep.Results {
		ymax = math.Max(ymax, r.LatencyMs["p99"])
	}
	n := float64(len(rep.Results))
	fx, fy := frame(&b, "recommendation latency, one thread", "model (p10–p90, box p25–p75, line p50, dot p99)", "ms", 0, n, 0, niceCeil(ymax), nil)
	for i, r := range rep.Results {
		c := palette[i%len(palette)]
		l := r.LatencyMs
		mid := fx(float64(i) + 0.5)
		half := (fx(0.3) - fx(0)) / 2
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`, mid, fy(l["p10"]), mid, fy(l["p90"]), c)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.5" stroke="%s"><title>%s: p25 %.3f, p50 %.3f, p75 %.3f ms</title></rect>`,
			mid-half, fy(l["p75"]), 2*half, math.Max(fy(l["p25"])-fy(l["p75"]), 1), c, c, template.HTMLEscapeString(r.Model), l["p25"], l["p50"], l["p75"])
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, mid-half, fy(l["p50"]), mid+half, fy(l["p50"]), c)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>p99 %.3f ms</title></circle>`, mid, fy(l["p99"]), c, l["p99"])
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, mid, chartH-padB+14, template.HTMLEscapeString(r.Model))
	}
	b.WriteString("</svg>")
	return chart{Title: "latency", SVG: template.HTML(b.String())}
}

// tradeoffChart places each model by latency (x) and NDCG at the first K;
// with a selection's front, by p99, the front joined by a line and its
// models ringed.
func tradeoffChart(rep Report) chart {
	var b strings.Builder
	key := Key(NDCG, rep.Ks[0])
	lat, title := "p50", "accuracy against latency"
	if len(rep.Front) > 0 {
		lat, title = "p99", "accuracy against p99 latency, Pareto front"
	}
	xmax, ymax := 0.0, 0.0
	for _, r := range rep.Results {
		xmax = math.Max(xmax, r.LatencyMs[lat])
		ymax = math.Max(ymax, r.Metrics[key])
	}
	fx, fy := frame(&b, title, lat+" latency (ms)", key, 0, niceCeil(xmax), 0, niceCeil(ymax), []float64{0, niceCeil(xmax) / 2, niceCeil(xmax)})
	var front []Result
	for _, r := range rep.Results {
		if slices.Contains(rep.Front, r.Model) {
			front = append(front, r)
		}
	}
	if len(front) > 1 {
		slices.SortFunc(front, func(a, c Result) int { return cmp.Compare(a.LatencyMs[lat], c.LatencyMs[lat]) })
		b.WriteString(`<polyline fill="none" stroke="#888" stroke-dasharray="4 3" points="`)
		for _, r := range front {
			fmt.Fprintf(&b, "%.1f,%.1f ", fx(r.LatencyMs[lat]), fy(r.Metrics[key]))
		}
		b.WriteString(`"/>`)
	}
	var names []string
	for i, r := range rep.Results {
		names = append(names, r.Model)
		ring := ""
		if slices.Contains(rep.Front, r.Model) {
			ring = ` stroke="#222" stroke-width="2"`
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="6" fill="%s"%s><title>%s</title></circle>`,
			fx(r.LatencyMs[lat]), fy(r.Metrics[key]), palette[i%len(palette)], ring, template.HTMLEscapeString(r.Model))
	}
	legend(&b, names)
	b.WriteString("</svg>")
	return chart{Title: "trade-off", SVG: template.HTML(b.String())}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

var reportTemplate = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tailor evaluation: {{.R.Dataset}}, {{.R.Protocol}}</title>
<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:16px}</style></head><body>
<h1>Evaluation</h1>
<p>Dataset <b>{{.R.Dataset}}</b>, protocol <b>{{.R.Protocol}}</b>, seed {{.R.Seed}}, {{.R.Folds}} fold(s).
Metrics are means over test users (averaged over folds); brackets are bootstrap 95% intervals.</p>
<table><tr><th>model</th>{{range .Keys}}<th>{{.}}</th>{{end}}<th>train s</th><th>p50 ms</th><th>p99 ms</th><th>users/s</th><th>peak heap MiB</th><th>model MiB</th></tr>
{{range .Rows}}<tr><td>{{.Model}}</td>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<h2>Charts</h2><div class="charts">{{range .Charts}}<div>{{.SVG}}</div>{{end}}</div>
</body></html>
`))

type reportRow struct {
	Model string
	Cells []string
}

// WriteHTML writes the report as one self-contained HTML page: the
// results table and SVG charts of each ranking metric against K, latency
// per model, and accuracy against latency.
func WriteHTML(w io.Writer, rep Report) error {
	if len(rep.Results) == 0 {
		return fmt.Errorf("html report: nothing to report")
	}
	var keys []string
	for _, k := range rep.Ks {
		for _, m := range []string{NDCG, Precision, Recall, MAP, MRR, Hit, "coverage"} {
			keys = append(keys, Key(m, k))
		}
	}
	if _, ok := rep.Results[0].Metrics["auc"]; ok {
		keys = append(keys, "auc")
	}
	if len(rep.Ks) == 0 {
		// A report of other metrics (the price backtest): all of them.
		seen := map[string]bool{}
		for _, r := range rep.Results {
			for k := range r.Metrics {
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
		slices.Sort(keys)
	}
	var rows []reportRow
	for _, r := range rep.Results {
		row := reportRow{Model: r.Model}
		for _, k := range keys {
			cell := short4(r.Metrics[k])
			if ci, ok := r.CI95[k]; ok {
				cell += fmt.Sprintf(" [%s, %s]", short4(ci[0]), short4(ci[1]))
			}
			row.Cells = append(row.Cells, cell)
		}
		row.Cells = append(row.Cells, fmt.Sprintf("%.2f", r.TrainSeconds), fmt.Sprintf("%.3f", r.LatencyMs["p50"]),
			fmt.Sprintf("%.3f", r.LatencyMs["p99"]), fmt.Sprintf("%.0f", r.UsersPerSecond), fmt.Sprintf("%.1f", float64(r.PeakHeapBytes)/(1<<20)),
			fmt.Sprintf("%.2f", float64(r.ModelBytes)/(1<<20)))
		rows = append(rows, row)
	}
	var charts []chart
	if len(rep.Ks) > 0 {
		for _, m := range []string{NDCG, Recall, Precision, Hit} {
			charts = append(charts, metricChart(rep, m))
		}
		charts = append(charts, latencyChart(rep), tradeoffChart(rep))
	}
	return reportTemplate.Execute(w, map[string]any{"R": rep, "Keys": keys, "Rows": rows, "Charts": charts})
}

func short4(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.4f", v)
}
