package boltstore

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk layout, as far as precheck reads it: a page header (id
// u64, flags u16, count u16, overflow u32), and on pages 0 and 1 a meta
// (magic, version, page size, flags: u32; root u64, sequence u64, freelist
// u64, high-water page id u64, txid u64, checksum u64), in the machine's
// byte order.
const (
	pageHeaderSize   = 16
	metaSize         = 64
	metaSumLen       = 56
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	freelistFlag     = 0x10
	noFreelist       = ^uint64(0)
	freelistOverflow = 0xFFFF
)

type boltMeta struct {
	pageSize                   uint32
	root, freelist, pgid, txid uint64
}

// readMeta reads the meta page at off, or reports it invalid.
func readMeta(f io.ReaderAt, off int64) (boltMeta, bool) {
	b := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(b, off); err != nil {
		return boltMeta{}, false
	}
	m := b[pageHeaderSize:]
	ne := binary.NativeEndian
	h := fnv.New64a()
	h.Write(m[:metaSumLen])
	if ne.Uint32(m) != boltMagic || ne.Uint32(m[4:]) != boltVersion || ne.Uint64(m[56:]) != h.Sum64() {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		pgid:     ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}, true
}

// precheck reads, without a memory map, what bbolt's Open trusts: the meta
// page it will use (the valid one with the higher transaction id), the file
// length that meta needs, and the freelist page it loads. bbolt's Open
// panics or faults on a truncated file or a garbled freelist, and the
// memory map it leaves behind keeps the file locked until the process
// exits; this check catches those files first. A file with no valid meta
// page is left to bbolt, which reports that as an error.
func precheck(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	m0, ok0 := readMeta(f, 0)
	ps := int64(os.Getpagesize())
	if ok0 {
		ps = int64(m0.pageSize)
	}
	m1, ok1 := readMeta(f, ps)
	m := m0
	switch {
	case ok1 && (!ok0 || m1.txid > m0.txid):
		m = m1
	case !ok0:
		return nil
	}
	corrupt := func(format string, args ...any) error {
		return &CorruptError{Path: path, Reason: fmt.Sprintf(format, args...)}
	}
	ps = int64(m.pageSize)
	if ps < 1024 || ps > 1<<20 || m.pgid < 2 || m.pgid > uint64(info.Size())/uint64(ps)+1 {
		if ps >= 1024 && m.pgid >= 2 && m.pgid <= 1<<40 && info.Size() < int64(m.pgid)*ps {
			return corrupt("truncated: the file has %d bytes, its pages need %d", info.Size(), int64(m.pgid)*ps)
		}
		return corrupt("meta page out of range (page size %d, %d pages)", ps, m.pgid)
	}
	if size := int64(m.pgid) * ps; info.Size() < size {
		return corrupt("truncated: the file has %d bytes, its pages need %d", info.Size(), size)
	}
	if m.root < 2 || m.root >= m.pgid {
		return corrupt("root page %d out of range", m.root)
	}
	if m.freelist == noFreelist {
		return nil
	}
	if m.freelist < 2 || m.freelist >= m.pgid {
		return corrupt("freelist page %d out of range", m.freelist)
	}
	return checkFreelist(f, m, ps, corrupt)
}

// checkFreelist checks the freelist page's header and ids.
func checkFreelist(f io.ReaderAt, m boltMeta, ps int64, corrupt func(string, ...any) error) error {
	ne := binary.NativeEndian
	hdr := make([]byte, pageHeaderSize+8)
	if _, err := f.ReadAt(hdr, int64(m.freelist)*ps); err != nil {
		return corrupt("freelist page unreadable: %v", err)
	}
	flags, count, overflow := ne.Uint16(hdr[8:]), uint64(ne.Uint16(hdr[10:])), uint64(ne.Uint32(hdr[12:]))
	if flags != freelistFlag {
		return corrupt("page %d is not a freelist page (flags %#x)", m.freelist, flags)
	}
	if m.freelist+overflow >= m.pgid {
		return corrupt("freelist page %d overflows past the last page", m.freelist)
	}
	start := int64(pageHeaderSize)
	if count == freelistOverflow {
		count = ne.Uint64(hdr[pageHeaderSize:])
		start += 8
	}
	room := (int64(overflow)+1)*ps - start
	if count > uint64(room)/8 {
		return corrupt("freelist claims %d pages, its page holds %d", count, room/8)
	}
	ids := make([]byte, count*8)
	if _, err := f.ReadAt(ids, int64(m.freelist)*ps+start); err != nil {
		return corrupt("freelist unreadable: %v", err)
	}
	for i := range count {
		if id := ne.Uint64(ids[i*8:]); id < 2 || id >= m.pgid {
			return corrupt("freelist names page %d, outside the file's %d pages", id, m.pgid)
		}
	}
	return nil
}
