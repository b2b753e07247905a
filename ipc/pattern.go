package ipc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalidPattern: a pattern of SubscribePattern breaks its grammar (see
// Bus.SubscribePattern); the error names the pattern and the token at
// fault.
var ErrInvalidPattern = errors.New("kervi: invalid pattern")

// pattern is a parsed pattern over ids: tokens separated by ".", where
// "*" stands for one token and a last ">" for one token or more, as in
// NATS subjects.
type pattern struct {
	text   string
	tokens []string
}

// parsePattern parses and checks a pattern. The error wraps
// ErrInvalidPattern and names the token at fault.
func parsePattern(s string) (*pattern, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidPattern, validText(s), fmt.Sprintf(format, args...))
	}
	if s == "" {
		return nil, bad("a pattern has at least one token")
	}
	if len(s) > MaxIDLength {
		return nil, bad("%d bytes; a pattern has at most %d, as ids do", len(s), MaxIDLength)
	}
	tokens := strings.Split(s, ".")
	for i, t := range tokens {
		culprit := "token " + strconv.Itoa(i+1) + " " + strconv.Quote(validText(t))
		switch {
		case t == "":
			return nil, bad("token %d is empty", i+1)
		case t == ">" && i != len(tokens)-1:
			return nil, bad("%s: \">\" stands for the rest of an id and must be the last token", culprit)
		case t == "*" || t == ">":
			continue
		case strings.ContainsAny(t, "*>"):
			return nil, bad("%s: \"*\" and \">\" stand for whole tokens only", culprit)
		}
		for j := 0; j < len(t); j++ {
			switch c := t[j]; {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_' || c == '-' || c == ':' || c == '/':
			default:
				r, _ := utf8.DecodeRuneInString(t[j:])
				return nil, bad("%s: %q is not allowed (letters, digits and _-:/ are, as in ids)", culprit, r)
			}
		}
	}
	return &pattern{text: s, tokens: tokens}, nil
}

// literalPattern is the pattern that matches id only. ids hold neither "*"
// nor ">".
func literalPattern(id string) *pattern {
	return &pattern{text: id, tokens: strings.Split(id, ".")}
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

// Pattern is a parsed pattern over ids, with the grammar of
// Bus.SubscribePattern: tokens separated by ".", where "*" stands for one
// token and a last ">" for one token or more ("greenhouse.>",
// "*.temp"). An id without "*" or ">" is a pattern that matches only
// itself. Observers use it to apply the application's id grammar to
// their own settings, such as a history kept per pattern. The zero
// Pattern matches nothing.
type Pattern struct{ p *pattern }

// ParsePattern parses s. The error wraps ErrInvalidPattern and names the
// token at fault.
func ParsePattern(s string) (Pattern, error) {
	p, err := parsePattern(s)
	if err != nil {
		return Pattern{}, err
	}
	return Pattern{p}, nil
}

// Match reports whether id matches the pattern. It does not allocate.
func (p Pattern) Match(id string) bool { return p.p != nil && p.p.match(id) }

// String returns the pattern as it was parsed.
func (p Pattern) String() string {
	if p.p == nil {
		return ""
	}
	return p.p.text
}
