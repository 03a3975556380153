package ups

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Memberships are saved one file per segment,
//
//	<dir>/<org key>/<sandbox>/<segment id>.members
//
// written atomically before the job that computed them is marked
// SUCCEEDED, and loaded at start after the profile store. Identities are
// stored by number: the store numbers identities in ingestion order,
// which a restart (snapshot plus replay) reproduces exactly.
//
// The format: "SFMEMB1\n", then uvarint-prefixed org, sandbox and segment
// id, uvarint count, and per membership the uvarint delta of its
// identity number, a status byte and the zigzag varint delta of its
// time; a CRC-32C of all of it closes the file.
const membersMagic = "SFMEMB1\n"

// saveMembers writes one segment's memberships.
func saveMembers(dirs *dirTree, c Caller, segmentID string, m *segmentMembers) error {
	var b bytes.Buffer
	b.WriteString(membersMagic)
	var tmp [binary.MaxVarintLen64]byte
	uv := func(x uint64) { b.Write(tmp[:binary.PutUvarint(tmp[:], x)]) }
	str := func(s string) { uv(uint64(len(s))); b.WriteString(s) }
	str(c.Org)
	str(c.Sandbox)
	str(segmentID)
	uv(uint64(m.len()))
	var prevID uint32
	var prevAt int64
	for i, id := range m.idList() {
		st, at := m.entry(i)
		uv(uint64(id - prevID))
		b.WriteByte(byte(st))
		b.Write(tmp[:binary.PutVarint(tmp[:], at-prevAt)])
		prevID, prevAt = id, at
	}
	b.Write(binary.LittleEndian.AppendUint32(nil, crc32.Checksum(b.Bytes(), castagnoli)))
	dir, err := dirs.ensure(orgDirName(c.Org), c.Sandbox)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, segmentID+".members"), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the memberships of segment %s: %w", segmentID, err)
	}
	return nil
}

// errMembersCorrupt is a memberships file that does not read back.
var errMembersCorrupt = errors.New("memberships file is damaged")

// loadMembers reads every memberships file under dir into ms.
// identities is how many identities the store of a scope holds: a file
// naming more is from another store and is an error.
func loadMembers(dir string, ms *memberships, identities func(Caller) int) error {
	return walkScopes(dir, func(_ policyScope, path string) error {
		files, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, f := range files {
			name := f.Name()
			full := filepath.Join(path, name)
			if strings.HasPrefix(name, ".") {
				_ = os.Remove(full) // an interrupted write, never acknowledged
				continue
			}
			if !strings.HasSuffix(name, ".members") {
				continue
			}
			data, err := os.ReadFile(full)
			if err != nil {
				return err
			}
			c, id, m, err := decodeMembers(data)
			if err != nil {
				return fmt.Errorf("%s: %w", full, err)
			}
			if n := m.len(); n > 0 && int(m.ids[n-1]) >= identities(c) {
				return fmt.Errorf("%s: names identity %d but the profile store holds %d: it belongs to another data directory", full, m.ids[n-1], identities(c))
			}
			ms.publish(c, map[string]*segmentMembers{id: m})
		}
		return nil
	})
}

func decodeMembers(data []byte) (c Caller, segmentID string, m *segmentMembers, err error) {
	if len(data) < len(membersMagic)+4 || string(data[:len(membersMagic)]) != membersMagic {
		return c, "", nil, errMembersCorrupt
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return c, "", nil, errMembersCorrupt
	}
	r := bytes.NewReader(body[len(membersMagic):])
	uv := func() uint64 {
		x, e := binary.ReadUvarint(r)
		if e != nil && err == nil {
			err = errMembersCorrupt
		}
		return x
	}
	str := func() string {
		n := uv()
		if n > uint64(r.Len()) {
			err = errMembersCorrupt
			return ""
		}
		b := make([]byte, n)
		_, _ = io.ReadFull(r, b)
		return string(b)
	}
	c.Org, c.Sandbox, segmentID = str(), str(), str()
	n := uv()
	if err != nil || n > uint64(r.Len()) {
		return c, "", nil, errMembersCorrupt
	}
	m = &segmentMembers{ids: make([]uint32, n), status: make([]memberStatus, n), at: make([]int64, n)}
	var id uint64
	var at int64
	for i := range m.ids {
		d := uv()
		if i > 0 && d == 0 {
			return c, "", nil, errMembersCorrupt // identities ascend
		}
		id += d
		st, e := r.ReadByte()
		dt, e2 := binary.ReadVarint(r)
		if e != nil || e2 != nil || id > 1<<32-1 || st == 0 || st > byte(statusExited) {
			return c, "", nil, errMembersCorrupt
		}
		at += dt
		m.ids[i], m.status[i], m.at[i] = uint32(id), memberStatus(st), at
	}
	if err != nil || r.Len() != 0 {
		return c, "", nil, errMembersCorrupt
	}
	return c, segmentID, m, nil
}
