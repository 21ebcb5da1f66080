//go:build unix

package filetail

import (
	"os"
	"syscall"
)

// fileID returns the device and inode of a file, which stay with it across
// renames in one file system.
func fileID(fi os.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), true //nolint:unconvert // Dev and Ino differ in type between systems.
}
