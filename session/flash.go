package session

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Each flash message is a value of its own, under a key that sorts by time.
// Adding one is then a plain set that needs no load, and two requests adding
// messages at once both keep theirs.

// AddFlash queues a message for the next request that reads flashes.
func (s *Session) AddFlash(msg string) {
	b, _ := json.Marshal(msg) // a string always encodes
	var r [4]byte
	rand.Read(r[:])
	s.lock()
	defer s.mu.Unlock()
	var now int64
	if s.m != nil {
		now = s.m.cfg.now().UnixNano()
	}
	s.flashSeq++
	key := fmt.Sprintf("%s%016x.%04x.%08x", keyFlashPrefix, uint64(now), s.flashSeq&0xffff, binary.BigEndian.Uint32(r[:]))
	s.put(key, change{value: b})
}

// Flashes returns the queued messages, oldest first, and removes them.
func (s *Session) Flashes() []string {
	s.lock()
	defer s.mu.Unlock()
	s.loadLocked()
	var keys []string
	if s.base != nil {
		for k := range s.base.Values {
			if _, touched := s.overlay[k]; !touched && strings.HasPrefix(k, keyFlashPrefix) {
				keys = append(keys, k)
			}
		}
	}
	for k, c := range s.overlay {
		if !c.del && strings.HasPrefix(k, keyFlashPrefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	msgs := make([]string, 0, len(keys))
	for _, k := range keys {
		v, ok := s.overlay[k]
		raw := v.value
		if !ok {
			raw = s.base.Values[k]
		}
		var msg string
		if err := json.Unmarshal(raw, &msg); err == nil {
			msgs = append(msgs, msg)
		}
		s.put(k, change{del: true})
	}
	return msgs
}
