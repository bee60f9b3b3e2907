package sandbox

import (
	"container/list"
	"sync"
)

// lru is a fixed-size map from a check's hash to a value, evicting the
// least recently used entry. RL revisits the same program often (an
// invalid edit leaves it unchanged), so hits are common.
type lru[V any] struct {
	mu    sync.Mutex
	size  int
	order *list.List // front = most recent; values are *lruEntry[V]
	items map[[32]byte]*list.Element
}

type lruEntry[V any] struct {
	key [32]byte
	val V
}

func newLRU[V any](size int) *lru[V] {
	return &lru[V]{size: size, order: list.New(), items: map[[32]byte]*list.Element{}}
}

func (c *lru[V]) get(k [32]byte) (V, bool) {
	var zero V
	if c.size <= 0 {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return zero, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry[V]).val, true
}

func (c *lru[V]) put(k [32]byte, v V) {
	if c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.Value.(*lruEntry[V]).val = v
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&lruEntry[V]{key: k, val: v})
	for c.order.Len() > c.size {
		e := c.order.Back()
		c.order.Remove(e)
		delete(c.items, e.Value.(*lruEntry[V]).key)
	}
}
