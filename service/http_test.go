package service

import "testing"

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
