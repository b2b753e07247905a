package main

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestRun(t *testing.T) {
	var out, prompt bytes.Buffer
	if err := run(strings.NewReader("s3cret\n"), &out, &prompt); err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out.String())
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")) != nil || prompt.String() != "Password: " {
		t.Fatalf("hash %q, prompt %q", hash, prompt.String())
	}
	for _, in := range []string{"", "\n"} {
		if err := run(strings.NewReader(in), &out, &prompt); err == nil {
			t.Errorf("input %q: no error", in)
		}
	}
}
