package busconfig

import (
	"reflect"
	"testing"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
)

// The nats section reaches bus whole: secrets revealed, TLS only when
// files are given (an empty TLS would turn TLS on), sync as a switch.
func TestNATS(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   config.NATS
		want bus.NATS
	}{
		{
			name: "embedded",
			in:   config.NATS{Sync: "always", Embedded: config.Embedded{StoreDir: "data/nats", Listen: "127.0.0.1:4222", Token: "tok"}},
			want: bus.NATS{Connect: bus.ConnectOptions{Name: "alerter"},
				Embedded: bus.EmbeddedOptions{StoreDir: "data/nats", Listen: "127.0.0.1:4222", Token: "tok", SyncAlways: true}},
		},
		{
			name: "cluster with TLS",
			in: config.NATS{URL: "tls://nats:4222", User: "alerter", Password: "pw", Credentials: "a.creds",
				TLS: config.TLS{CA: "ca.pem", Cert: "c.pem", Key: "k.pem"}},
			want: bus.NATS{URL: "tls://nats:4222", Connect: bus.ConnectOptions{CredsFile: "a.creds", User: "alerter", Password: "pw",
				TLS: &bus.TLSFiles{CA: "ca.pem", Cert: "c.pem", Key: "k.pem"}, Name: "alerter"}},
		},
		{
			name: "cluster without TLS",
			in:   config.NATS{URL: "nats://nats:4222", Token: "t0"},
			want: bus.NATS{URL: "nats://nats:4222", Connect: bus.ConnectOptions{Token: "t0", Name: "alerter"}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := NATS(tt.in, "alerter", nil); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("NATS(%+v)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}
