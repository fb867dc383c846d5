package portal

import "sync"

// verifiedCache remembers session cookie values whose MAC and cipher have
// already been checked, so the hot path pays for HMAC-SHA256, AES-CTR and
// two base64 decodings once per cookie value rather than once per request.
//
// Only the cryptographic check is cached. Every request still applies
// validate (audience, lifetime, idle timeout, revocation, the user being
// enabled), so logout and timeouts take effect at once. Keys are full
// cookie values: an entry can only be created by presenting a cookie that
// passed verification, so an attacker cannot plant one. The size is
// bounded; when full, a tenth of the entries (in Go's random map order) is
// dropped, which costs those sessions one re-verification.
type verifiedCache struct {
	mu      sync.RWMutex
	entries map[string]session
	max     int
}

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{entries: make(map[string]session, 64), max: max}
}

func (c *verifiedCache) get(value string) (session, bool) {
	c.mu.RLock()
	s, ok := c.entries[value]
	c.mu.RUnlock()
	return s, ok
}

func (c *verifiedCache) put(value string, s session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		drop := c.max/10 + 1
		for k := range c.entries {
			delete(c.entries, k)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.entries[value] = s
}

func (c *verifiedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
