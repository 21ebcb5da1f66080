package app

import (
	"context"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/lifecycle"
)

// sourceStats are a source's counters, read when metrics are scraped.
type sourceStats struct {
	name, typ string
	ingest.Counters
}

// metrics returns the /metrics handler. Everything is read from the
// counters the parts keep anyway when Prometheus scrapes, so that metrics
// cost nothing per event; the label sets are bounded by the config (sources,
// notifiers) and the rule set.
func (s *App) metrics(g *generation) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&collector{s: s, g: g})
	reg.MustRegister(s.evalLatency)
	s.lifecycle.register(reg)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

var (
	descEventsIn      = prometheus.NewDesc("alerter_events_received_total", "Events taken in and stored, by source (duplicates included).", []string{"source", "type"}, nil)
	descRejected      = prometheus.NewDesc("alerter_events_rejected_total", "Requests, messages or lines refused, by source and reason.", []string{"source", "reason"}, nil)
	descEvaluated     = prometheus.NewDesc("alerter_events_evaluated_total", "Events evaluated and acknowledged.", nil, nil)
	descRetried       = prometheus.NewDesc("alerter_events_retried_total", "Events handed back for a later evaluation (state store or ALERTS unavailable).", nil, nil)
	descRedelivered   = prometheus.NewDesc("alerter_events_redelivered_total", "Events JetStream delivered more than once.", nil, nil)
	descRuleEvals     = prometheus.NewDesc("alerter_rule_evaluations_total", "Rule evaluations, by rule.", []string{"rule"}, nil)
	descRuleMatches   = prometheus.NewDesc("alerter_rule_matches_total", "Rule matches, by rule.", []string{"rule"}, nil)
	descRuleAlerts    = prometheus.NewDesc("alerter_alerts_total", "Alerts fired, by rule and severity.", []string{"rule", "severity"}, nil)
	descRuleEsc       = prometheus.NewDesc("alerter_escalations_total", "Escalations made, by rule (docs/rules.md, Escalations); those of a group acknowledged meanwhile are not sent.", []string{"rule"}, nil)
	descRuleDigests   = prometheus.NewDesc("alerter_digests_total", "Digests of suppressed matches made, by rule (docs/rules.md, Digests).", []string{"rule"}, nil)
	descRuleSupp      = prometheus.NewDesc("alerter_alerts_suppressed_total", "Matches suppressed by a dedup window, by rule.", []string{"rule"}, nil)
	descRuleErrors    = prometheus.NewDesc("alerter_rule_errors_total", "Rule evaluation errors, by rule.", []string{"rule"}, nil)
	descNotify        = prometheus.NewDesc("alerter_notifications_total", "Notification attempts and outcomes, by notifier: sent, failed (an attempt), retried, dead (given up), silenced, skipped (settled already: handed out again after a restart, or the alert id stored again).", []string{"notifier", "outcome"}, nil)
	descQueueLost     = prometheus.NewDesc("alerter_notifier_queue_lost_total", "Times a notifier's queue (its consumer of ALERTS) was deleted under it and made again, resuming from the deliveries record.", []string{"notifier"}, nil)
	descQueue         = prometheus.NewDesc("alerter_queue_pending", "Messages waiting or unacknowledged, by queue (evaluator, notify-NAME).", []string{"queue"}, nil)
	descNATS          = prometheus.NewDesc("alerter_nats_connected", "1 when the NATS connection is up.", nil, nil)
	descRulesInfo     = prometheus.NewDesc("alerter_rules_info", "The running rule set: version and number of rules.", []string{"version"}, nil)
	descReloads       = prometheus.NewDesc("alerter_rules_reloads_total", "Rule reloads, by outcome.", []string{"outcome"}, nil)
	descStateOps      = prometheus.NewDesc("alerter_state_requests_total", "Requests to the dedup and threshold state bucket, by kind: read, write, retry (sent again after no answer: leader election, reconnect, timeout).", []string{"kind"}, nil)
	descStateCache    = prometheus.NewDesc("alerter_state_cache_total", "State updates done on the remembered state in one round trip (hit) or that had to read the key (miss).", []string{"result"}, nil)
	descStreamBytes   = prometheus.NewDesc("alerter_stream_bytes", "Bytes a stream holds, as last looked at (every 30s).", []string{"stream"}, nil)
	descStreamMax     = prometheus.NewDesc("alerter_stream_max_bytes", "A stream's byte limit (nats.max_bytes); past it the oldest messages are dropped.", []string{"stream"}, nil)
	descStreamFill    = prometheus.NewDesc("alerter_stream_fill_ratio", "Bytes a stream holds over its byte limit; alerter warns from 0.8.", []string{"stream"}, nil)
	descStreamMissing = prometheus.NewDesc("alerter_stream_messages_missing", "Messages gone from a stream without aging out or passing its byte limit: lost on disk, deleted, or a lost end.", []string{"stream"}, nil)
	descSilRefused    = prometheus.NewDesc("alerter_silences_refused", "Silences in the bucket that are not applied: they mute every alert or last past silences.max_duration (written past the API).", nil, nil)
	descReloadFailed  = prometheus.NewDesc("alerter_rules_last_reload_failed", "1 when the last reload was rejected (the previous set still runs).", nil, nil)
)

// collector reads the counters of s and of its generation g: the sources
// and notifiers of one config.
type collector struct {
	s *App
	g *generation
}

// Describe names every metric without collecting them: collecting reads
// NATS, and registering happens while a reload builds a generation.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descEventsIn, descRejected, descEvaluated, descRetried, descRedelivered, descRuleEvals,
		descRuleMatches, descRuleAlerts, descRuleEsc, descRuleDigests, descRuleSupp, descRuleErrors, descNotify, descQueueLost,
		descQueue, descNATS, descRulesInfo, descReloads, descStateOps, descStateCache, descStreamBytes,
		descStreamMax, descStreamFill, descStreamMissing, descSilRefused, descReloadFailed,
	} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m, g := metricSink{ch}, c.g
	c.sources(m, g)
	c.rules(m)
	c.deliveries(m, g)
	c.queues(m, g)
	c.health(m)
}

// metricSink sends constant metrics.
type metricSink struct{ ch chan<- prometheus.Metric }

func (m metricSink) counter(d *prometheus.Desc, v int64, labels ...string) {
	m.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func (m metricSink) gauge(d *prometheus.Desc, v float64, labels ...string) {
	m.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (c *collector) sources(m metricSink, g *generation) {
	for _, src := range g.sourceStats {
		m.counter(descEventsIn, src.Received.Load(), src.name, src.typ)
		for reason, n := range src.Rejected {
			m.counter(descRejected, n.Load(), src.name, reason)
		}
	}
	ev := c.s.eval.Stats()
	m.counter(descEvaluated, ev.Events.Load())
	m.counter(descRetried, ev.Retried.Load())
	m.counter(descRedelivered, ev.Redelivered.Load())
}

func (c *collector) rules(m metricSink) {
	s := c.s
	set := s.eng.Rules()
	for _, r := range set.Rules {
		st := s.eng.Stats(r.ID)
		if st == nil {
			continue
		}
		m.counter(descRuleEvals, st.Evaluations.Load(), r.ID)
		m.counter(descRuleMatches, st.Matches.Load(), r.ID)
		m.counter(descRuleAlerts, st.Alerts.Load(), r.ID, string(r.Severity))
		m.counter(descRuleSupp, st.Suppressed.Load(), r.ID)
		m.counter(descRuleEsc, st.Escalations.Load(), r.ID)
		m.counter(descRuleDigests, st.Digests.Load(), r.ID)
		m.counter(descRuleErrors, st.Errors.Load(), r.ID)
	}
	m.gauge(descRulesInfo, float64(len(set.Rules)), set.Version)
	m.counter(descReloads, s.reload.ok.Load(), "ok")
	m.counter(descReloads, s.reload.failed.Load(), "rejected")
	failed := 0.0
	if s.reload.lastFailed.Load() {
		failed = 1
	}
	m.gauge(descReloadFailed, failed)
}

func (c *collector) deliveries(m metricSink, g *generation) {
	for _, d := range g.deliver {
		st := d.Stats()
		for outcome, n := range map[string]int64{
			"sent": st.Sent.Load(), "failed": st.Failed.Load(), "retried": st.Retried.Load(),
			"dead": st.Dead.Load(), "silenced": st.Silenced.Load(), "skipped": st.Skipped.Load(),
		} {
			m.counter(descNotify, n, d.Name(), outcome)
		}
		m.counter(descQueueLost, st.QueueLost.Load(), d.Name())
	}
	if st := c.s.silenceStore; st != nil {
		m.gauge(descSilRefused, float64(len(st.Refused())))
	}
}

func (c *collector) queues(m metricSink, g *generation) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	queue := func(name string, pending func(context.Context) (uint64, error)) {
		if n, err := pending(ctx); err == nil {
			m.gauge(descQueue, float64(n), name)
		}
	}
	queue("evaluator", c.s.eval.Pending)
	for _, d := range g.deliver {
		queue("notify-"+d.Name(), d.Pending)
	}
}

func (c *collector) health(m metricSink) {
	s := c.s
	if s.state != nil {
		st := s.state.Stats()
		m.counter(descStateOps, st.Reads, "read")
		m.counter(descStateOps, st.Writes, "write")
		m.counter(descStateOps, st.Retries, "retry")
		m.counter(descStateCache, st.CacheHits, "hit")
		m.counter(descStateCache, st.CacheMisses, "miss")
	}
	up := 0.0
	if s.nc.Status() == nats.CONNECTED {
		up = 1
	}
	m.gauge(descNATS, up)
	for name, st := range s.watch.snapshot() {
		m.gauge(descStreamBytes, float64(st.bytes), name)
		m.gauge(descStreamMissing, float64(st.missing), name)
		if st.maxBytes > 0 {
			m.gauge(descStreamMax, float64(st.maxBytes), name)
			m.gauge(descStreamFill, float64(st.bytes)/float64(st.maxBytes), name)
		}
	}
}

// lifecycleMetrics say how long alerts waited for someone, and who acted
// on them (docs/api.md, Metrics): each acknowledgement and resolve that
// moves a group, as this replica made it.
type lifecycleMetrics struct {
	changes          *prometheus.CounterVec
	toAck, toResolve *prometheus.HistogramVec
}

// lifecycleBuckets run from half a minute to a day: the pace of people,
// not of machines.
var lifecycleBuckets = []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400}

func newLifecycleMetrics() lifecycleMetrics {
	return lifecycleMetrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_alert_changes_total",
			Help: "Alert groups acknowledged or resolved, by change and by where it came from: api (the API, the command line, the web UI), slack, pagerduty, rule.",
		}, []string{"change", "source"}),
		toAck: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alerter_alert_time_to_acknowledge_seconds",
			Help:    "From an alert firing to its group's acknowledgement, by severity.",
			Buckets: lifecycleBuckets,
		}, []string{"severity"}),
		toResolve: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alerter_alert_time_to_resolve_seconds",
			Help:    "From an alert firing to its group's resolve, by severity and where the resolve came from.",
			Buckets: lifecycleBuckets,
		}, []string{"severity", "source"}),
	}
}

func (m lifecycleMetrics) register(reg prometheus.Registerer) {
	reg.MustRegister(m.changes, m.toAck, m.toResolve)
}

// observe counts a change that moved alert a's group (lifecycle.Acts).
func (m lifecycleMetrics) observe(to lifecycle.Status, a *alerter.Alert, c lifecycle.Change) {
	source := c.Source()
	m.changes.WithLabelValues(string(to), source).Inc()
	waited := max(c.At.Sub(a.FiredAt), 0).Seconds()
	severity := string(a.Severity)
	if severity == "" || a.Severity.Rank() < 0 {
		severity = "unknown" // bounded, whatever an alert stored says
	}
	if to == lifecycle.Acknowledged {
		m.toAck.WithLabelValues(severity).Observe(waited)
	} else {
		m.toResolve.WithLabelValues(severity, source).Observe(waited)
	}
}
