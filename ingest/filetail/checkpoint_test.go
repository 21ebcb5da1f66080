package filetail

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCheckpointRoundTrip(t *testing.T) {
	cp := checkpoint{
		Version: checkpointVersion, Path: "/var/log/audit/current.audit.log", Offset: 9000, Line: 7,
		Dev: 2049, Ino: 131, FP: strings.Repeat("ab", 32), FPLen: fingerprintMax,
	}
	got, err := decodeCheckpoint(cp.encode())
	if err != nil {
		t.Fatal(err)
	}
	if got != cp {
		t.Errorf("round trip: got %+v, want %+v", got, cp)
	}
}

func TestDecodeCheckpointRejects(t *testing.T) {
	fp := strings.Repeat("0", 64)
	for _, data := range []string{
		``,
		`[]`,
		`{"offset":10}`,
		`{"v":2,"offset":10}`,
		`{"v":1,"offset":-1}`,
		`{"v":1,"offset":10,"line":-1}`,
		`{"v":1,"offset":10,"fp_len":11,"fp":"` + fp + `"}`,
		`{"v":1,"offset":100000,"fp_len":100000,"fp":"` + fp + `"}`,
		`{"v":1,"offset":10,"fp_len":10,"fp":"xyz"}`,
		`{"v":1,"offset":10,"fp_len":10}`,
		`{"v":1,"offset":10,"fp":"` + fp + `"}`,
	} {
		if cp, err := decodeCheckpoint([]byte(data)); err == nil {
			t.Errorf("%s decoded to %+v", data, cp)
		}
	}
}

func TestFingerprint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("hello\nworld\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := fingerprint(f, 6)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := fingerprint(f, 12); a == b {
		t.Error("fingerprints of different lengths are equal")
	}
	if _, err := fingerprint(f, 13); err == nil {
		t.Error("a fingerprint longer than the file gave no error")
	}
}

// FuzzDecodeCheckpoint: decoding never panics, and what it accepts is
// consistent and survives a round trip.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add([]byte(`{"v":1,"path":"/a/current.audit.log","offset":1234,"line":3,"dev":2049,"ino":99,"fp":"` + strings.Repeat("0f", 32) + `","fp_len":1234}`))
	f.Add([]byte(`{"v":1,"path":"/a","offset":0}`))
	f.Add([]byte(`{"v":1,"offset":1e3}`))
	f.Add([]byte(`{"v":1,"offset":10,"fp_len":-1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cp, err := decodeCheckpoint(data)
		if err != nil {
			return
		}
		if cp.Offset < 0 || cp.Line < 0 || cp.FPLen < 0 || cp.FPLen > cp.Offset || cp.FPLen > fingerprintMax {
			t.Fatalf("accepted an inconsistent checkpoint %+v", cp)
		}
		again, err := decodeCheckpoint(cp.encode())
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", cp, err)
		}
		if !reflect.DeepEqual(again, cp) {
			t.Fatalf("round trip: %+v became %+v", cp, again)
		}
	})
}
