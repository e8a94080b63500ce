package pike

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// mapKey is an address as two integers. The table's maps are keyed by it
// rather than by netip.Addr, whose zone pointer makes every hash and
// comparison go through the generic (slower) path.
type mapKey struct{ hi, lo uint64 }

func toMapKey(a netip.Addr) mapKey {
	b := a.As16()
	return mapKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// addr converts back; keys are made from unmapped addresses, so an
// IPv4-mapped key is an IPv4 source.
func (k mapKey) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint64(b[8:], k.lo)
	return netip.AddrFrom16(b).Unmap()
}

// hash mixes the key with a per-table random seed, so that which shard and
// which sketch cells an address lands in cannot be predicted by a sender.
func (k mapKey) hash(seed uint64) uint64 {
	h := (k.hi ^ seed) * 0x9e3779b97f4a7c15
	h = (h ^ h>>32 ^ k.lo) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>31) * 0x94d049bb133111eb
	return h ^ h>>29
}

func newSeed() uint64 { return rand.Uint64() }
