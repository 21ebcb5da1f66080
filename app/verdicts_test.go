package app

import (
	"fmt"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

// Verdicts given when resolving alerts through the API come back as the
// rule's precision in GET /api/v1/rules, with an exclusion of the actor
// its false positives share, which the playground backtests against the
// rule as loaded.
func TestVerdictsPrecisionAndSuggestion(t *testing.T) {
	r := run(t, fmt.Sprintf(tokensConfig, t.TempDir()), nil, Options{AckWait: 2 * time.Second})
	// setting-changed dedups by actor for an hour: each of bob's settings,
	// two hours apart, opens his group again once the last was resolved.
	resolve := []struct{ event, actor, at, body string }{
		{"b1", "bob", "2024-05-14T10:00:00Z", `{"verdict":"false_positive"}`},
		{"b2", "bob", "2024-05-14T12:00:00Z", `{"verdict":"false_positive","comment":"the backup job"}`},
		{"b3", "bob", "2024-05-14T14:00:00Z", `{"verdict":"false_positive"}`},
		{"a1", "ann", "2024-05-14T10:05:00Z", `{"verdict":"true_positive"}`},
		{"c1", "cid", "2024-05-14T10:10:00Z", `{"verdict":"benign"}`},
		{"d1", "dan", "2024-05-14T10:15:00Z", `{}`}, // no verdict: not counted
	}
	for _, rv := range resolve {
		r.post(t, "/in", setting(rv.event, rv.actor, rv.at))
		var id string
		waitFor(t, "the alert of "+rv.event, func() bool {
			for _, a := range storedAlerts(t, r.svc) {
				if a.Event.ID == rv.event && a.Resolves == "" {
					id = a.ID
				}
			}
			return id != ""
		})
		if code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+id+"/resolve", rv.body); code != 200 || body["changed"] != true {
			t.Fatalf("resolving %s: %d %v", rv.event, code, body)
		}
	}

	var rules struct {
		Rules []struct {
			ID       string
			Verdicts struct {
				TruePositive  int      `json:"true_positive"`
				FalsePositive int      `json:"false_positive"`
				Benign        int      `json:"benign"`
				Precision     *float64 `json:"precision"`
				Since         time.Time
			}
			Suggestion *struct {
				Field     string
				Values    []string
				Condition string
				Removed   int `json:"false_positives_removed"`
				Kept      int `json:"true_positives_kept"`
				Source    string
			}
		}
	}
	code, body := r.call(t, "viewer-token", "GET", "/api/v1/rules", "")
	b, _ := json.Marshal(body)
	if err := json.Unmarshal(b, &rules); code != 200 || err != nil {
		t.Fatalf("rules: %d %v", code, err)
	}
	for _, rl := range rules.Rules {
		v, sg := rl.Verdicts, rl.Suggestion
		switch rl.ID {
		case "setting-changed":
			got := fmt.Sprintf("%d TP %d FP %d benign", v.TruePositive, v.FalsePositive, v.Benign)
			if got != "1 TP 3 FP 1 benign" || v.Precision == nil || *v.Precision != 0.25 || time.Since(v.Since) < 29*24*time.Hour {
				t.Fatalf("setting-changed: %s, precision %v since %v", got, v.Precision, v.Since)
			}
			if sg == nil || sg.Field != "event.actor.name" || sg.Condition != `!(event.actor.name in ["bob"])` || sg.Removed != 3 || sg.Kept != 1 {
				t.Fatalf("suggestion %+v", sg)
			}
			backtest(t, r, sg.Source)
		default:
			if v.TruePositive+v.FalsePositive+v.Benign != 0 || v.Precision != nil || sg != nil {
				t.Errorf("%s, never judged: %+v %+v", rl.ID, v, sg)
			}
		}
	}
}

// backtest runs source (setting-changed with bob excluded) over the
// events stored: the three settings of bob no longer alert, and the rule
// as loaded is reported beside it.
func backtest(t *testing.T, r *running, source string) {
	t.Helper()
	req, _ := json.Marshal(map[string]string{"rule": source, "since": "1h"})
	code, body := r.call(t, "writer-token", "POST", "/api/v1/evaluate", string(req))
	bt, _ := body["backtest"].(map[string]any)
	if code != 200 || bt == nil {
		t.Fatalf("backtest: %d %v", code, body)
	}
	running, _ := bt["running"].(map[string]any)
	if bt["alerts"] != 3.0 || running["setting-changed"] != 6.0 {
		t.Fatalf("backtest with the exclusion: %v alerts, the loaded rule %v; want 3 and 6", bt["alerts"], running)
	}
}
