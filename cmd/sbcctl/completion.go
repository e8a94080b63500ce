package main

import (
	"fmt"
	"io"
	"strings"
)

// verbs are the first words sbcctl takes, with the words that may follow,
// for shell completion.
var verbs = map[string][]string{
	"rpc":        nil,
	"reload":     nil,
	"stats":      nil,
	"version":    nil,
	"uptime":     nil,
	"methods":    nil,
	"ban":        {"list", "rm"},
	"pike":       {"top"},
	"db":         {"create", "migrate", "show"},
	"completion": {"bash"},
}

// completion prints a bash completion script: `source <(sbcctl completion bash)`.
// RPC method names come from the running server (system.listMethods).
func completion(w io.Writer, shell string) error {
	if shell != "bash" {
		return fmt.Errorf("completion: only bash is supported")
	}
	var cases strings.Builder
	var first []string
	for v, next := range verbs {
		first = append(first, v)
		if len(next) > 0 {
			fmt.Fprintf(&cases, "\t\t%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", v, strings.Join(next, " "))
		}
	}
	fmt.Fprintf(w, `# bash completion for sbcctl: source <(sbcctl completion bash)
_sbcctl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	if [[ $COMP_CWORD -eq 1 ]]; then
		COMPREPLY=($(compgen -W %q -- "$cur"))
		return
	fi
	case "$prev" in
%s		rpc) COMPREPLY=($(compgen -W "$(sbcctl methods 2>/dev/null)" -- "$cur")); return ;;
	esac
}
complete -F _sbcctl sbcctl
`, strings.Join(sortedStrings(first), " "), cases.String())
	return nil
}

func sortedStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}
