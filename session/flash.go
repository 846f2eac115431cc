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

// Flash is a queued message with the level the application gave it
// ("success", "error", …; "" for one added with [Session.AddFlash]).
type Flash struct {
	Level   string `json:"level"`
	Message string `json:"message"`
}

// AddFlash queues a message for the next request that reads flashes.
func (s *Session) AddFlash(msg string) {
	b, _ := json.Marshal(msg) // a string always encodes
	s.addFlash(b)
}

// AddFlashLevel queues a message with a level, for templates that style
// success and error messages apart. [Session.FlashMessages] returns the level;
// [Session.Flashes] only the message.
func (s *Session) AddFlashLevel(level, msg string) {
	b, _ := json.Marshal(Flash{Level: level, Message: msg}) // strings always encode
	s.addFlash(b)
}

func (s *Session) addFlash(b []byte) {
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
	fs := s.FlashMessages()
	msgs := make([]string, len(fs))
	for i, f := range fs {
		msgs[i] = f.Message
	}
	return msgs
}

// FlashMessages returns the queued messages with their levels, oldest first,
// and removes them: reading and clearing is one call.
func (s *Session) FlashMessages() []Flash {
	s.lock()
	defer s.mu.Unlock()
	s.loadLocked()
	// One pass over the stored values: a lookup per key would scan them
	// again for each message.
	var queued []flashRaw
	if s.base != nil {
		for k, v := range s.base.Values.All() {
			if _, touched := s.overlay[k]; !touched && strings.HasPrefix(k, keyFlashPrefix) {
				queued = append(queued, flashRaw{k, v})
			}
		}
	}
	for k, c := range s.overlay {
		if !c.del && strings.HasPrefix(k, keyFlashPrefix) {
			queued = append(queued, flashRaw{k, c.value})
		}
	}
	slices.SortFunc(queued, func(a, b flashRaw) int { return strings.Compare(a.key, b.key) })
	msgs := make([]Flash, 0, len(queued))
	for _, q := range queued {
		if f, ok := decodeFlash(q.raw); ok {
			msgs = append(msgs, f)
		}
		s.put(q.key, change{del: true})
	}
	return msgs
}

// decodeFlash reads a flash stored by AddFlash (a JSON string) or by
// AddFlashLevel (an object). Anything else was not written by us and is
// dropped.
func decodeFlash(raw []byte) (Flash, bool) {
	var f Flash
	if len(raw) > 0 && raw[0] == '{' {
		return f, json.Unmarshal(raw, &f) == nil
	}
	return f, json.Unmarshal(raw, &f.Message) == nil
}

// flashRaw is a queued message's key and encoding.
type flashRaw struct {
	key string
	raw []byte
}
