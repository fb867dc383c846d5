package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// announced is what `stepgate run` does for a configuration with the
// stepgate option `announce` (the demo's): the sites' addresses, to check
// before Caddy starts and to watch until they are served, and the line to
// print then. Without `announce` it is empty and nothing changes.
type announced struct {
	Message string
	Addrs   []string // host:port to dial, one per listening socket
}

// configFor reads `run`'s configuration the way Caddy will (the file of
// --config, adapted by --adapter or by its name) when the file mentions
// `announce` at all, so other configurations are read once, by Caddy.
func configFor(args []string) (announced, error) {
	if len(args) < 2 || args[1] != "run" {
		return announced{}, nil
	}
	var file, adapter string
	for i := 2; i < len(args); i++ {
		name, value, inline := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") || name != "config" && name != "adapter" {
			continue
		}
		if !inline && i+1 < len(args) {
			i++
			value = args[i]
		}
		if name == "config" {
			file = value
		} else {
			adapter = value
		}
	}
	if file == "" {
		return announced{}, nil
	}
	raw, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(raw), "announce") {
		return announced{}, nil // Caddy reports an unreadable file itself
	}
	cfg, _, _, err := caddycmd.LoadConfig(file, adapter)
	if err != nil {
		return announced{}, nil
	}
	return parseAnnounced(cfg)
}

// parseAnnounced finds `announce` and the HTTP servers' listen addresses
// in a JSON configuration.
func parseAnnounced(cfg []byte) (announced, error) {
	var c struct {
		Apps struct {
			Stepgate struct {
				Announce string `json:"announce"`
			} `json:"stepgate"`
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return announced{}, fmt.Errorf("reading the configuration: %w", err)
	}
	a := announced{Message: c.Apps.Stepgate.Announce}
	if a.Message == "" {
		return announced{}, nil
	}
	for _, srv := range c.Apps.HTTP.Servers {
		for _, l := range srv.Listen {
			na, err := caddy.ParseNetworkAddress(l)
			if err != nil || na.IsUnixNetwork() || na.Network == "udp" || na.Network == "udp4" || na.Network == "udp6" {
				continue
			}
			for off := range na.PortRangeSize() {
				addr := na.JoinHostPort(off)
				if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) {
					addr = net.JoinHostPort("127.0.0.1", port)
				}
				if !slices.Contains(a.Addrs, addr) {
					a.Addrs = append(a.Addrs, addr)
				}
			}
		}
	}
	slices.Sort(a.Addrs)
	return a, nil
}

// answers reports whether something accepts connections at addr.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// free refuses to start when one of the addresses already answers: Caddy
// shares a port with another program listening with SO_REUSEPORT (such as
// a second copy of the demo), which then gets some of the requests.
func (a announced) free() error {
	for _, addr := range a.Addrs {
		if answers(addr) {
			return fmt.Errorf("%s is already in use, perhaps by another copy of this program; stop it first, or give this site another address", addr)
		}
	}
	return nil
}

// announceWhenServed prints the message once every address answers (this
// process has started serving them), or says so if they do not within
// wait.
func (a announced) announceWhenServed(w io.Writer, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for _, addr := range a.Addrs {
		for !answers(addr) {
			if time.Now().After(deadline) {
				fmt.Fprintf(w, "stepgate: %s is not served after %s; see the log above\n", addr, wait)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	fmt.Fprintf(w, "\n%s\n\n", a.Message)
}
