// Package luascript ships lua/default.lua inside the binary, so `sbc` with
// the embedded default config runs from any directory.
package luascript

import _ "embed"

// Default is lua/default.lua as built into the binary.
//
//go:embed default.lua
var Default []byte
