// Oracle for test/fixtures/version-vectors/go.tsv: reads "A<TAB>B" lines on stdin and prints
// "A<TAB>op<TAB>B" with op from golang.org/x/mod/semver.Compare. Inputs without the "v" prefix
// are given to semver with "v" prepended (as Wharf's go.ts reads them); a pair where either
// side is not semver.IsValid is skipped and reported on stderr.
// Run (GOPATH mode): GO111MODULE=off GOPATH=/usr/share/gocode go run govercmp.go < pairs
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/semver"
)

func withV(s string) string {
	if len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
		return "v" + s
	}
	return s
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		p := strings.Split(in.Text(), "\t")
		if len(p) != 2 {
			continue
		}
		a, b := withV(p[0]), withV(p[1])
		if !semver.IsValid(a) || !semver.IsValid(b) {
			fmt.Fprintf(os.Stderr, "skip invalid pair %q %q\n", p[0], p[1])
			continue
		}
		op := "="
		switch semver.Compare(a, b) {
		case -1:
			op = "<"
		case 1:
			op = ">"
		}
		fmt.Fprintf(out, "%s\t%s\t%s\n", p[0], op, p[1])
	}
}
