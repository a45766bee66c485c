package bolt

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The layout of a bbolt meta page (go.etcd.io/bbolt/internal/common):
// a 16-byte page header, then magic, version, page size, flags (4 bytes
// each), the root bucket (root page, sequence), the freelist page, the
// high-water page id, the transaction id and an FNV-64a checksum of the
// meta fields before it (8 bytes each).
const (
	boltMagic       = 0xED0CDAED
	pageHeaderSize  = 16
	metaSize        = 4*4 + 8*2 + 8*3 // magic … txid: what the checksum covers
	metaChecksumEnd = metaSize + 8
)

type metaPage struct {
	pageSize      uint32
	freelist, hwm uint64
	txid          uint64
	valid         bool
}

func readMeta(buf []byte) metaPage {
	if len(buf) < pageHeaderSize+metaChecksumEnd {
		return metaPage{}
	}
	m := buf[pageHeaderSize:]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic {
		return metaPage{}
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:metaSize])
	mp := metaPage{pageSize: le.Uint32(m[8:]), freelist: le.Uint64(m[32:]), hwm: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	mp.valid = h.Sum64() == le.Uint64(m[metaSize:])
	return mp
}

// checkExtent refuses a file shorter than the pages its current meta page
// says it holds (a truncated copy). bbolt itself would map the missing
// pages and fault on reading them (SIGSEGV/SIGBUS, which no recover
// catches) when the freelist or a root page lies past the end. Files
// whose meta pages bbolt cannot read are left to bbolt's own refusal.
func checkExtent(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt reports it
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	buf := make([]byte, 64<<10) // enough for both meta pages up to 32 KiB pages
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil
	}
	buf = buf[:n]
	m0 := readMeta(buf)
	if !m0.valid || m0.pageSize < 512 || int(m0.pageSize)*2 > len(buf) {
		return nil
	}
	m1 := readMeta(buf[m0.pageSize:])
	cur := m0
	if m1.valid && m1.txid > m0.txid {
		cur = m1
	}
	if need := int64(cur.hwm) * int64(cur.pageSize); fi.Size() < need {
		return &DamagedError{Path: path, Reason: fmt.Sprintf("the file is truncated: it has %d bytes, but its pages need %d", fi.Size(), need)}
	}
	return nil
}
