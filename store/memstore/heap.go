package memstore

// expiryHeap is a binary min-heap of a shard's entries by expiry, so that the
// sweep and eviction find the records closest to expiry without scanning.
// Each entry keeps its index in the heap. The shard's lock guards it.
type expiryHeap []*entry

func (h expiryHeap) less(i, j int) bool {
	return h[i].expires < h[j].expires
}

func (h expiryHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = int32(i)
	h[j].index = int32(j)
}

func (h *expiryHeap) push(e *entry) {
	e.index = int32(len(*h))
	*h = append(*h, e)
	h.up(int(e.index))
}

// remove takes the entry at index i out of the heap.
func (h *expiryHeap) remove(i int) {
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	if i != last {
		h.fix(i)
	}
}

// fix restores the heap after the expiry of the entry at index i changed.
func (h expiryHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h expiryHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down moves the entry at i down as far as it goes and reports whether it
// moved.
func (h expiryHeap) down(i int) bool {
	start := i
	for {
		child := 2*i + 1
		if child >= len(h) {
			break
		}
		if r := child + 1; r < len(h) && h.less(r, child) {
			child = r
		}
		if !h.less(child, i) {
			break
		}
		h.swap(i, child)
		i = child
	}
	return i > start
}

// first returns the entry closest to expiry, or nil, other than the one
// under the ID spare while it is live at at (Unix microseconds): a spared
// record that has expired goes first like any other. In a heap the
// runner-up is a child of the root.
func (h expiryHeap) first(spare string, at int64) *entry {
	switch {
	case len(h) == 0:
		return nil
	case h[0].id != spare || at >= h[0].expires:
		return h[0]
	case len(h) == 1:
		return nil
	case len(h) == 2 || h.less(1, 2):
		return h[1]
	}
	return h[2]
}
