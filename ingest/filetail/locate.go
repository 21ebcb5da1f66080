package filetail

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// openFile opens a regular file for reading from its start.
func openFile(path string) (*file, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	dev, ino, _ := fileID(fi)
	return &file{f: f, path: path, info: fi, dev: dev, ino: ino}, nil
}

type matchResult int

const (
	different matchResult = iota // not the checkpointed file
	same                         // the checkpointed file, at least as long as the offset
	truncated                    // the checkpointed file, shorter than the offset
)

// match tells whether c is the file of checkpoint cp.
func (c *file) match(cp *checkpoint) matchResult {
	sameID := cp.Ino != 0 && c.ino == cp.Ino && c.dev == cp.Dev
	if !sameID && cp.FPLen == 0 {
		// Nothing else to recognize it by.
		return different
	}
	size := c.info.Size()
	fpOK := func() bool {
		if cp.FPLen == 0 {
			return true
		}
		fp, err := fingerprint(c.f, cp.FPLen)
		return err == nil && fp == cp.FP
	}
	if size < cp.Offset {
		// The same inode, shorter: truncated, unless its first bytes show
		// that the inode was given to another file.
		if sameID && (size < cp.FPLen || fpOK()) {
			return truncated
		}
		return different
	}
	if !fpOK() {
		return different
	}
	return same
}

// resumeAt positions c at the checkpoint it matched.
func (c *file) resumeAt(cp *checkpoint) {
	c.offset, c.readPos, c.line = cp.Offset, cp.Offset, cp.Line
	c.fp, c.fpLen = cp.FP, cp.FPLen
}

// openFirst opens the file to start with, deciding where to start in it
// from the checkpoint. It reports false while there is none yet.
func (t *Tail) openFirst() bool {
	var c *file
	var err error
	if t.pattern {
		c, err = t.firstMatch()
	} else {
		c, err = t.firstFile()
	}
	if err != nil {
		t.report("cannot open the file; retrying", "path", t.path, "err", err)
		return false
	}
	if c == nil {
		t.report("waiting for the file to appear", "path", t.path)
		return false
	}
	t.resume = nil
	t.cur = c
	t.log.Info("reading file", "path", c.path, "offset", c.readPos, "line", c.line+1)
	return true
}

// firstFile opens the file at the configured path, or the checkpointed file
// if it was rotated away from it; nil while neither exists.
func (t *Tail) firstFile() (*file, error) {
	c, err := openFile(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		c = nil
	} else if err != nil {
		return nil, err
	}
	cp := t.resume
	if cp == nil {
		return c, nil
	}
	if c != nil {
		if t.resumeIfMatch(c, cp) {
			return c, nil
		}
	}
	if !t.searched {
		var r *file
		r, t.searched = t.findRotated(cp, c)
		if r != nil {
			if c != nil {
				c.f.Close()
			}
			t.log.Info("the checkpointed file was rotated: reading its rest first", "path", r.path, "offset", cp.Offset)
			r.resumeAt(cp)
			return r, nil
		}
	}
	if c != nil {
		t.log.Warn("the checkpointed file is not found: reading the file from its start; the rest of the old file, if any, is not read",
			"path", c.path, "checkpoint_path", cp.Path, "checkpoint_offset", cp.Offset)
	}
	return c, nil
}

// resumeIfMatch positions c from checkpoint cp if it is the checkpointed
// file, reporting whether it is.
func (t *Tail) resumeIfMatch(c *file, cp *checkpoint) bool {
	switch c.match(cp) {
	case same:
		c.resumeAt(cp)
		return true
	case truncated:
		t.stats.Truncations.Add(1)
		t.log.Warn("file truncated while stopped: reading it again from the start", "path", c.path, "size", c.info.Size(), "checkpoint_offset", cp.Offset)
		return true
	}
	return false
}

// findRotated looks in the configured path's folder for the checkpointed
// file, under another name: by inode and fingerprint first, by fingerprint
// alone (a copy) failing that. atPath is the file at the path, or nil. It
// reports false when the folder cannot be read, to be searched again later.
func (t *Tail) findRotated(cp *checkpoint, atPath *file) (*file, bool) {
	dir := filepath.Dir(t.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.report("cannot look for the rotated file", "dir", dir, "err", err)
		return nil, false
	}
	var byFP []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if p == t.path || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Size() < cp.Offset || (atPath != nil && os.SameFile(fi, atPath.info)) {
			continue
		}
		if _, ino, ok := fileID(fi); !ok || ino != cp.Ino {
			if cp.FPLen > 0 {
				byFP = append(byFP, p)
			}
			continue
		}
		if c := t.openIfSame(p, cp); c != nil {
			return c, true
		}
	}
	for _, p := range byFP {
		if c := t.openIfSame(p, cp); c != nil {
			return c, true
		}
	}
	return nil, true
}

// openIfSame opens p if it is the checkpointed file, else returns nil.
func (t *Tail) openIfSame(p string, cp *checkpoint) *file {
	c, err := openFile(p)
	if err != nil {
		return nil
	}
	if c.match(cp) != same {
		c.f.Close()
		return nil
	}
	return c
}

// matches returns the paths matching the pattern, sorted.
func (t *Tail) matches() []string {
	// Glob fails only for a malformed pattern, which New rejected.
	paths, _ := filepath.Glob(t.path)
	slices.Sort(paths)
	return paths
}

// firstMatch opens the file of a pattern to start with: the checkpointed
// one, else the first one after it by name, else (no checkpoint) the last
// one; nil while there is none.
func (t *Tail) firstMatch() (*file, error) {
	paths := t.matches()
	cp := t.resume
	if cp == nil {
		for _, p := range slices.Backward(paths) {
			if c, err := openFile(p); err == nil {
				return c, nil
			}
		}
		return nil, nil
	}
	// With no match yet (a folder not mounted yet), search again later.
	if !t.searched && len(paths) > 0 {
		t.searched = true
		if c := t.findMatch(paths, cp); c != nil {
			return c, nil
		}
		t.log.Warn("the checkpointed file is not found: continuing with the next file by name; the rest of the old file, if any, is not read",
			"checkpoint_path", cp.Path, "checkpoint_offset", cp.Offset)
	}
	for _, p := range paths {
		// A file under the checkpoint's name is another file: the search
		// did not recognize it.
		if p >= cp.Path {
			c, err := openFile(p)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
	}
	return nil, nil
}

// findMatch opens the checkpointed file among paths, positioned from the
// checkpoint, or returns nil.
func (t *Tail) findMatch(paths []string, cp *checkpoint) *file {
	var byFP []*file
	defer func() {
		for _, c := range byFP {
			c.f.Close()
		}
	}()
	for _, p := range paths {
		c, err := openFile(p)
		if err != nil {
			continue
		}
		if cp.Ino != 0 && c.ino == cp.Ino && c.dev == cp.Dev {
			if t.resumeIfMatch(c, cp) {
				return c
			}
		} else if cp.FPLen > 0 && c.info.Size() >= cp.Offset {
			byFP = append(byFP, c)
			continue
		}
		c.f.Close()
	}
	for i, c := range byFP {
		if c.match(cp) == same {
			byFP = slices.Delete(byFP, i, i+1)
			c.resumeAt(cp)
			return c
		}
	}
	return nil
}

// successor returns the file the writer has moved on to from the current
// one, opened, or nil if it has not. A new file counts only once it holds
// data: until the writer wrote there it may still write to the old one.
func (t *Tail) successor() *file {
	if t.pattern {
		return t.nextMatch()
	}
	fi, err := os.Stat(t.path)
	if err != nil || os.SameFile(fi, t.cur.info) || fi.Size() == 0 || !fi.Mode().IsRegular() {
		return nil
	}
	c, err := openFile(t.path)
	if err != nil {
		return nil
	}
	if os.SameFile(c.info, t.cur.info) || c.info.Size() == 0 {
		c.f.Close()
		return nil
	}
	return c
}

// nextMatch returns the first file of the pattern after the current one by
// name, if it holds data.
func (t *Tail) nextMatch() *file {
	for _, p := range t.matches() {
		if p <= t.cur.path {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || os.SameFile(fi, t.cur.info) {
			continue
		}
		if fi.Size() == 0 {
			// Files are taken in name order: wait for this one rather
			// than skip it.
			return nil
		}
		c, err := openFile(p)
		if err != nil {
			t.report("cannot open the next file; retrying", "path", p, "err", err)
			return nil
		}
		return c
	}
	return nil
}
