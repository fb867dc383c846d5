package verifiers

import "net/netip"

// SourceKey is the key under which per-client limits count a client
// address: an IPv4 address as it is, an IPv6 address by its /64 network.
// One IPv6 subscriber is routinely given a whole /64, so counting each of
// its 2^64 addresses separately would let one client pass any per-address
// limit by rotating addresses. IPv4-mapped IPv6 addresses count as their
// IPv4 address, and a value that is not an IP address (a test double, a
// Unix socket) is used unchanged.
func SourceKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
