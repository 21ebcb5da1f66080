package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alerter/alerter/config"
)

// TestGuard sends what browsers and other clients send through the guard
// in front of a handler that answers 200.
func TestGuard(t *testing.T) {
	type req struct {
		method, path, body string
		header             map[string]string // "Host" sets the Host
	}
	asJSON := map[string]string{"Content-Type": "application/json"}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	for _, tt := range []struct {
		name     string
		token    string
		external string
		req      req
		code     int
	}{
		{"a client's write", "", "", req{"POST", "/api/v1/silences", "{}", asJSON}, 200},
		{"JSON with a charset", "", "", req{"PUT", "/api/v1/x", "{}", map[string]string{"Content-Type": "Application/JSON; charset=utf-8"}}, 200},
		{"a DELETE without a body", "", "", req{"DELETE", "/api/v1/silences/x", "", nil}, 200},
		{"a reload without a body", "", "", req{"POST", "/-/reload", "", nil}, 200},
		{"a form's empty body", "", "", req{"POST", "/-/reload", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415},
		{"text/plain", "", "", req{"PATCH", "/api/v1/x", "{}", map[string]string{"Content-Type": "text/plain"}}, 415},
		{"a body without a type", "", "", req{"POST", "/api/v1/x", "{}", nil}, 415},
		{"JSON-ish", "", "", req{"POST", "/api/v1/x", "{}", map[string]string{"Content-Type": "application/jsonp"}}, 415},
		{"a webhook's NDJSON is the webhook's to judge", "", "", req{"POST", "/webhooks/x", "{}", map[string]string{"Content-Type": "application/x-ndjson"}}, 200},
		{"Slack's form is the signature's to judge", "t", "", req{"POST", "/slack/interactions", "payload=%7B%7D", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 200},
		{"the UI", "", "", req{"POST", "/api/v1/x", "{}", with(asJSON, "Sec-Fetch-Site", "same-origin", "Origin", "http://localhost:8080", "Host", "localhost:8080")}, 200},
		{"a bookmark", "", "", req{"POST", "/-/reload", "", map[string]string{"Sec-Fetch-Site": "none"}}, 200},
		{"an old browser's UI", "", "", req{"POST", "/api/v1/x", "{}", with(asJSON, "Origin", "http://localhost:8080", "Host", "localhost:8080")}, 200},
		{"another site", "", "", req{"POST", "/api/v1/x", "{}", with(asJSON, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")}, 403},
		{"another port", "", "", req{"POST", "/api/v1/x", "{}", with(asJSON, "Sec-Fetch-Site", "same-site")}, 403},
		{"an old browser on another site", "", "", req{"DELETE", "/api/v1/x", "", map[string]string{"Origin": "https://evil.example"}}, 403},
		{"an old browser on another port", "", "", req{"POST", "/webhooks/x", "{}", with(asJSON, "Origin", "http://localhost:9999", "Host", "localhost:8080")}, 403},
		{"Origin null", "", "", req{"POST", "/webhooks/x", "{}", with(asJSON, "Origin", "null")}, 403},
		{"the UI behind a proxy", "", "https://alerter.example.com/ui/", req{"POST", "/api/v1/x", "{}", with(asJSON, "Origin", "https://alerter.example.com")}, 200},
		{"the proxy's name as Host", "", "https://alerter.example.com/ui/", req{"GET", "/api/v1/x", "", map[string]string{"Host": "Alerter.Example.com"}}, 200},
		{"a look-alike of the proxy", "", "https://alerter.example.com", req{"POST", "/api/v1/x", "{}", with(asJSON, "Origin", "https://alerter.example.com.evil.example")}, 403},
		{"a rebound name", "", "", req{"GET", "/api/v1/silences", "", map[string]string{"Host": "evil.example:8080"}}, 421},
		{"a rebound name writing", "", "", req{"POST", "/webhooks/x", "{}", with(asJSON, "Host", "evil.example:8080", "Origin", "http://evil.example:8080", "Sec-Fetch-Site", "same-origin")}, 421},
		{"a rebound name with a token", "t", "", req{"GET", "/api/v1/silences", "", map[string]string{"Host": "evil.example:8080"}}, 200},
		{"another site with a token", "t", "", req{"POST", "/api/v1/x", "{}", with(asJSON, "Sec-Fetch-Site", "cross-site")}, 403},
		{"a page", "", "", req{"GET", "/silences", "", map[string]string{"Sec-Fetch-Site": "cross-site"}}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{Server: config.Server{Listen: "127.0.0.1:8080", ExternalURL: tt.external, APIToken: config.Secret(tt.token)}}
			srv := httptest.NewServer(guard(cfg, slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
			defer srv.Close()
			var body io.Reader
			if tt.req.body != "" {
				body = strings.NewReader(tt.req.body)
			}
			r, err := http.NewRequest(tt.req.method, srv.URL+tt.req.path, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.req.header {
				if k == "Host" {
					r.Host = v
				} else {
					r.Header.Set(k, v)
				}
			}
			resp, err := srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tt.code)
			}
			if tt.code != 200 && !strings.HasPrefix(string(b), `{"error":`) {
				t.Errorf("the refusal is not a JSON error: %s", b)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
		})
	}
}

func TestOwnHost(t *testing.T) {
	names := map[string]bool{"localhost": true, "alerter.example.com": true}
	for _, tt := range []struct {
		host string
		own  bool
	}{
		{"localhost:8080", true},
		{"LocalHost:9000", true}, // an SSH tunnel's port
		{"localhost", true},
		{"127.0.0.1:8080", true},
		{"[::1]:8080", true},
		{"10.1.2.3:8080", true},
		{"alerter.example.com", true},
		{"alerter.example.com:443", true},
		{"", true},
		{"evil.example:8080", false},
		{"evil.example", false},
		{"alerter.example.com.evil.example", false},
		{"localhost.evil.example:8080", false},
		{"127.0.0.1.nip.io:8080", false},
	} {
		if got := ownHost(tt.host, names); got != tt.own {
			t.Errorf("ownHost(%q) = %v, want %v", tt.host, got, tt.own)
		}
	}
}

func TestExternalOrigin(t *testing.T) {
	for _, tt := range []struct{ url, origin string }{
		{"https://alerter.example.com/", "https://alerter.example.com"},
		{"https://Alerter.Example.com:443/ui/", "https://alerter.example.com"},
		{"http://alerter.example.com:80", "http://alerter.example.com"},
		{"http://alerter.example.com:8080/x", "http://alerter.example.com:8080"},
		{"https://[2001:db8::1]:443/", "https://[2001:db8::1]"},
		{"", ""},
	} {
		if got := externalOrigin(tt.url); got != tt.origin {
			t.Errorf("externalOrigin(%q) = %q, want %q", tt.url, got, tt.origin)
		}
	}
}
