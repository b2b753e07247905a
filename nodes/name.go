package nodes

import (
	"errors"
	"fmt"
)

// MainNode is the name of the main node: the one that runs the NATS server
// and the application hooks.
const MainNode = "main"

// maxNameLen is the longest application or node name.
const maxNameLen = 64

// ValidName reports whether s can name an application or a node: 1 to 64
// characters among A-Z, a-z, 0-9, '_' and '-', so that it is one NATS
// subject token. The error says what is wrong.
func ValidName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	if len(s) > maxNameLen {
		return fmt.Errorf("name %.16q... is %d bytes long, more than %d", s, len(s), maxNameLen)
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return fmt.Errorf("name %q: character %q at byte %d is not one of A-Z a-z 0-9 _ -", s, r, i)
		}
	}
	return nil
}
