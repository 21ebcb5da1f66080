package filetail

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	json "github.com/goccy/go-json"
)

// fingerprintMax bounds the bytes a fingerprint covers: enough for several
// audit lines (about 1.5 KB each, their timestamps included), little enough
// to read on every checkpoint until the file is that long.
const fingerprintMax = 8 << 10

// checkpointVersion is the version of the checkpoint's JSON shape.
const checkpointVersion = 1

// checkpoint is where a tail is in which file. It is stored as JSON so that
// an operator can read it (nats kv get) and a later version can add fields.
type checkpoint struct {
	Version int    `json:"v"`
	Path    string `json:"path"`
	Offset  int64  `json:"offset"` // after the last line stored
	Line    int64  `json:"line"`   // number of the last line stored, for file:line in logs
	Dev     uint64 `json:"dev,omitempty"`
	Ino     uint64 `json:"ino,omitempty"` // 0: the system gave no inode
	FP      string `json:"fp,omitempty"`  // hex SHA-256 of the first FPLen bytes
	FPLen   int64  `json:"fp_len,omitempty"`
}

func (c checkpoint) encode() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		// A struct of strings and integers always marshals.
		panic(err)
	}
	return b
}

// decodeCheckpoint reads a stored checkpoint and checks that it is
// consistent, so that nothing later seeks to a negative offset or trusts a
// fingerprint of the wrong length.
func decodeCheckpoint(data []byte) (checkpoint, error) {
	var c checkpoint
	if err := json.Unmarshal(data, &c); err != nil {
		return checkpoint{}, fmt.Errorf("decode checkpoint: %w", err)
	}
	switch {
	case c.Version != checkpointVersion:
		return checkpoint{}, fmt.Errorf("checkpoint version %d: want %d", c.Version, checkpointVersion)
	case c.Offset < 0 || c.Line < 0:
		return checkpoint{}, fmt.Errorf("checkpoint offset %d, line %d: negative", c.Offset, c.Line)
	case c.FPLen < 0 || c.FPLen > fingerprintMax || c.FPLen > c.Offset:
		return checkpoint{}, fmt.Errorf("checkpoint fingerprint length %d: want 0 to min(offset %d, %d)", c.FPLen, c.Offset, fingerprintMax)
	case c.FPLen == 0 && c.FP != "":
		return checkpoint{}, errors.New("checkpoint fingerprint without a length")
	case c.FPLen > 0:
		if b, err := hex.DecodeString(c.FP); err != nil || len(b) != sha256.Size {
			return checkpoint{}, fmt.Errorf("checkpoint fingerprint %q: want %d hex digits", c.FP, 2*sha256.Size)
		}
	}
	return c, nil
}

// fingerprint returns the hex SHA-256 of the first n bytes of f, or an error
// wrapping io.ErrUnexpectedEOF when f is shorter.
func fingerprint(f *os.File, n int64) (string, error) {
	h := sha256.New()
	m, err := io.Copy(h, io.NewSectionReader(f, 0, n))
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", f.Name(), err)
	}
	// A section reader stops early, without an error, at the file's end.
	if m < n {
		return "", fmt.Errorf("fingerprint %s: %w", f.Name(), io.ErrUnexpectedEOF)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
