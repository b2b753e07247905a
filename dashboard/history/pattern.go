package history

import (
	"fmt"
	"strings"
)

// pattern is a parsed id pattern: tokens separated by ".", where "*"
// stands for one token and a last ">" for one token or more. It is the
// rule of package ipc's patterns, whose parser is unexported; ids with
// neither "*" nor ">" match only themselves.
type pattern struct {
	text   string
	tokens []string
}

// parsePattern parses s; the error wraps ErrInvalidOption and names s.
func parsePattern(s string) (*pattern, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: Limit: empty pattern", ErrInvalidOption)
	}
	tokens := strings.Split(s, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return nil, fmt.Errorf("%w: Limit %q: token %d is empty", ErrInvalidOption, s, i+1)
		case t == ">" && i != len(tokens)-1:
			return nil, fmt.Errorf("%w: Limit %q: \">\" must be the last token", ErrInvalidOption, s)
		case t != "*" && t != ">" && strings.ContainsAny(t, "*>"):
			return nil, fmt.Errorf("%w: Limit %q: \"*\" and \">\" stand for whole tokens only", ErrInvalidOption, s)
		}
	}
	return &pattern{text: s, tokens: tokens}, nil
}

// match reports whether id matches the pattern. It does not allocate.
func (p *pattern) match(id string) bool {
	rest := id
	for i, t := range p.tokens {
		if t == ">" {
			return true // at least one token is left: checked below
		}
		var tok string
		last := false
		if j := strings.IndexByte(rest, '.'); j >= 0 {
			tok, rest = rest[:j], rest[j+1:]
		} else {
			tok, rest, last = rest, "", true
		}
		if t != "*" && t != tok {
			return false
		}
		if last {
			return i == len(p.tokens)-1
		}
		if i+1 < len(p.tokens) && p.tokens[i+1] == ">" {
			return true // the rest holds at least one (perhaps empty) token
		}
	}
	return false // the id has more tokens than the pattern
}
