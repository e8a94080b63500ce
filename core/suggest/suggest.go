// Package suggest finds the valid name closest to a mistyped one, for error
// messages that say "did you mean ...?" (module names, modparams, table
// attributes).
package suggest

import "strings"

// Closest returns the candidate with the smallest edit distance to name
// (compared in lower case) and that distance; "" and -1 without candidates.
func Closest(name string, candidates []string) (string, int) {
	best, bestD := "", -1
	low := strings.ToLower(name)
	for _, c := range candidates {
		if d := Distance(low, strings.ToLower(c)); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best, bestD
}

// Distance is the Levenshtein edit distance between a and b (bytes).
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
