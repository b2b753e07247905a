// Command kervi-passwd prints the bcrypt hash of a password, for
// dashboard.User.PasswordHash. It reads the password from the first line
// of its standard input:
//
//	go run github.com/kervi/kervi-go/dashboard/cmd/kervi-passwd
//	Password: (typed, then Enter)
//	$2a$10$...
//
// or, in a script, printf '%s\n' "$PASSWORD" | kervi-passwd. The
// password shows as it is typed: hash it where nobody looks on.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kervi/kervi-go/dashboard"
)

func main() {
	if err := run(os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kervi-passwd:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out, prompt io.Writer) error {
	fmt.Fprint(prompt, "Password: ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return fmt.Errorf("reading the password: %w", err)
	}
	hash, err := dashboard.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, hash)
	return err
}
