package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/app"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/statestore"
)

// Names of what the harness configures.
const (
	webhookSource = "load"
	webhookPath   = "/webhooks/load"
	natsSource    = "bus"
	natsSubject   = "load.>"
	loadStream    = "LOAD"
	// natsToken is the embedded server's token: a listening server
	// requires one, and loadgen connects to it from outside.
	natsToken = "loadgen"
)

const harnessConfig = `
server: {listen: "127.0.0.1:0", max_body_bytes: 16777216%s}
nats:
  embedded: {store_dir: %q, listen: "127.0.0.1:0", token: ` + natsToken + `}
rules: {paths: [%q], watch: false}
sources:
  - {name: ` + webhookSource + `, type: webhook, path: ` + webhookPath + `, format: auto}
  - {name: ` + natsSource + `, type: nats, subject: "` + natsSubject + `", format: auto}
%s`

// targets are where a harness sends alerts: the notifiers: and routes:
// sections of its config, the names of the notifiers, and
// server.external_url (Slack messages link to the alert under it).
type targets struct {
	yaml        string
	names       []string
	externalURL string
}

// consoleTargets is the console notifier writing to io.Discard, for every
// alert.
var consoleTargets = targets{
	yaml:  "notifiers:\n  - {name: console, type: console}\nroutes: {default: [console]}\n",
	names: []string{"console"},
}

// harness is alerter running in this process, and a separate client
// connection to its embedded NATS server.
type harness struct {
	svc    *app.App
	cancel context.CancelFunc
	done   chan error
	url    string // the webhook's URL
	nc     *nats.Conn
	js     jetstream.JetStream
	eval   jetstream.Consumer
	events jetstream.Stream
	alerts jetstream.Stream
	kv     jetstream.Stream
	dir    string
	keep   bool
	// notifiers are the configured targets' names.
	notifiers []string

	// Updated by monitor: events the evaluator acknowledged since the
	// harness started, and events stored but not yet acknowledged.
	acked   atomic.Uint64
	backlog atomic.Uint64
	stopMon context.CancelFunc
	ackBase uint64
}

func startHarness(ctx context.Context, rulesPath, storeDir string, to targets, log *slog.Logger) (h *harness, err error) {
	h = &harness{done: make(chan error, 1), notifiers: to.names}
	if storeDir == "" {
		if h.dir, err = os.MkdirTemp("", "alerter-loadgen-"); err != nil {
			return nil, err
		}
	} else {
		h.dir, h.keep = storeDir, true
	}
	defer func() {
		if err != nil {
			h.stop()
		}
	}()
	server := ""
	if to.externalURL != "" {
		server = fmt.Sprintf(", external_url: %q", to.externalURL)
	}
	cfg, err := config.Parse("loadgen.yaml", fmt.Appendf(nil, harnessConfig, server, h.dir, rulesPath, to.yaml), func(string) (string, bool) { return "", false }, builtin.Plugins())
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancel = cancel
	h.svc, err = app.New(runCtx, cfg, app.Options{Logger: log, Stdout: io.Discard})
	if err != nil {
		return nil, fmt.Errorf("starting alerter: %w", err)
	}
	h.url = "http://" + h.svc.Addr() + webhookPath
	if h.nc, err = nats.Connect(h.svc.NATSURL(), nats.Name("loadgen"), nats.Token(natsToken)); err != nil {
		return nil, err
	}
	if h.js, err = jetstream.New(h.nc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
		return nil, err
	}
	// A stream capturing the NATS source's subject makes it read through a
	// durable consumer: publishers get at-least-once, as in production.
	if _, err = h.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: loadStream, Subjects: []string{natsSubject}, Storage: jetstream.FileStorage, MaxAge: time.Hour,
	}); err != nil {
		return nil, err
	}
	go func() { h.done <- h.svc.Run(runCtx) }()
	select {
	case <-h.svc.Ready():
	case err := <-h.done:
		h.done <- err
		return nil, fmt.Errorf("alerter stopped: %w", err)
	case <-time.After(30 * time.Second):
		return nil, errors.New("alerter did not get ready in 30s")
	}
	if h.eval, err = h.js.Consumer(ctx, bus.EventsStream, evaluator.Consumer); err != nil {
		return nil, err
	}
	if h.events, err = h.js.Stream(ctx, bus.EventsStream); err != nil {
		return nil, err
	}
	if h.alerts, err = h.js.Stream(ctx, bus.AlertsStream); err != nil {
		return nil, err
	}
	if h.kv, err = h.js.Stream(ctx, "KV_"+statestore.DefaultBucket); err != nil {
		return nil, err
	}
	acked, _, err := h.progress(ctx)
	if err != nil {
		return nil, err
	}
	h.ackBase = acked
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	h.stopMon = stop
	go h.monitor(mctx)
	return h, nil
}

// progress asks the evaluator's consumer how many events it has
// acknowledged (stream sequences delivered and no longer pending: the
// consumer takes every message of EVENTS) and how many are waiting.
func (h *harness) progress(ctx context.Context) (acked, backlog uint64, err error) {
	info, err := h.eval.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	return info.Delivered.Stream - uint64(info.NumAckPending), info.NumPending + uint64(info.NumAckPending), nil
}

func (h *harness) monitor(ctx context.Context) {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		acked, backlog, err := h.progress(qctx)
		cancel()
		if err == nil {
			h.acked.Store(acked - h.ackBase)
			h.backlog.Store(backlog)
		}
	}
}

// ackedNow asks for the acknowledged count at once (the monitor's may be
// 25ms old).
func (h *harness) ackedNow(ctx context.Context) (uint64, error) {
	acked, _, err := h.progress(ctx)
	return acked - h.ackBase, err
}

// drain waits until the evaluator and the NATS source have nothing left.
func (h *harness) drain(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		_, backlog, err := h.progress(ctx)
		if err == nil && backlog == 0 {
			src, serr := h.js.Consumer(ctx, loadStream, "alerter-source-"+natsSource)
			if serr != nil {
				return time.Since(start), nil
			}
			info, ierr := src.Info(ctx)
			if ierr == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				// The source may have stored a last batch meanwhile.
				if _, b2, err := h.progress(ctx); err == nil && b2 == 0 {
					return time.Since(start), nil
				}
			}
		}
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("not drained after %s (backlog %d)", timeout, backlog)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deliveredAll waits until every notifier took every alert.
func (h *harness) deliveredAll(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, name := range h.notifiers {
		cons, err := h.js.Consumer(ctx, bus.AlertsStream, "notify-"+name)
		if err != nil {
			return err
		}
		for {
			info, err := cons.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("alerts not delivered to %s after %s", name, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// settled tells whether notifier name has nothing left to send: no alert
// waiting for it, none out with it or waiting for a retry.
func (h *harness) settled(ctx context.Context, name string) (bool, error) {
	cons, err := h.js.Consumer(ctx, bus.AlertsStream, "notify-"+name)
	if err != nil {
		return false, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return false, err
	}
	return info.NumPending == 0 && info.NumAckPending == 0, nil
}

func (h *harness) stop() {
	if h.stopMon != nil {
		h.stopMon()
	}
	if h.nc != nil {
		h.nc.Close()
	}
	if h.cancel != nil {
		h.cancel()
		if h.svc != nil {
			select {
			case <-h.done:
			case <-time.After(30 * time.Second):
			}
		}
	}
	if h.dir != "" && !h.keep {
		_ = os.RemoveAll(h.dir)
	}
}

// newClient is an HTTP client keeping conns connections to one host.
func newClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
		Timeout: 30 * time.Second,
	}
}
