//go:build !unix

package filetail

import "os"

// fileID reports no identity where os.FileInfo does not expose one; the
// fingerprint alone then tells files apart in checkpoints (os.SameFile still
// does while running).
func fileID(os.FileInfo) (dev, ino uint64, ok bool) { return 0, 0, false }
