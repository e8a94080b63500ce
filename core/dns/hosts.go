package dns

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
)

// hostsFile is /etc/hosts as read at start-up: names to addresses.
type hostsFile struct {
	m map[string][]netip.Addr
}

func loadHosts(path string) *hostsFile {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	h := &hostsFile{m: map[string][]netip.Addr{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(fields[0])
		if err != nil || ip.Zone() != "" {
			continue
		}
		for _, name := range fields[1:] {
			n := strings.ToLower(strings.TrimSuffix(name, "."))
			h.m[n] = append(h.m[n], ip.Unmap())
		}
	}
	return h
}

// lookup returns IPv4 addresses first, then IPv6 ones when v6 is on.
func (h *hostsFile) lookup(name string, v6 bool) []netip.Addr {
	if h == nil {
		return nil
	}
	all := h.m[strings.ToLower(name)]
	var out []netip.Addr
	for _, a := range all {
		if a.Is4() {
			out = append(out, a)
		}
	}
	if v6 {
		for _, a := range all {
			if a.Is6() {
				out = append(out, a)
			}
		}
	}
	return out
}
