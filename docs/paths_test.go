// Package docs_test holds the repository's documentation to the files it
// names: a path a newcomer reads in the docs is a file they can open.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository, seen from this directory.
const root = ".."

// pathDocs are the documents whose backticked repository paths are checked
// (the layout documents: a path there tells a newcomer where to look).
var pathDocs = []string{"docs/architecture.md", "README.md"}

// elsewhere are backticked paths in pathDocs that name files of other
// projects, with the project: they are not in this repository on purpose.
var elsewhere = map[string]string{
	"storage/storage.go":           "Dex",
	"tokenwright-data/admin.token": "created by serve in its data directory",
}

var (
	backticked = regexp.MustCompile("`([^`\\s]+)`")
	// hasExt is a path ending in a file name with an extension.
	hasExt = regexp.MustCompile(`/[^/]*\.[A-Za-z][A-Za-z0-9]{0,4}$`)
	// link is a Markdown inline link; its target is group 1.
	link = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

// repoPath reports whether s, backticked in a document, names a path in
// this repository: it starts with a top-level entry of the repository
// (`server/oauth`, `pkg/*`, `server/…`) or is a relative path to a file
// (`reference/notes.md`). A leading "/" is a URL path, not a file.
func repoPath(s string, top map[string]bool) bool {
	if strings.HasPrefix(s, "/") || !strings.Contains(s, "/") || strings.ContainsAny(s, "():{}=") {
		return false
	}
	first, _, _ := strings.Cut(s, "/")
	return top[first] || hasExt.MatchString(s)
}

// exists reports whether the repository has the path p, which may be a
// glob (`pkg/*`) or end in "…" (any sub-package of the folder before it).
func exists(p string) bool {
	p = strings.TrimSuffix(strings.TrimSuffix(p, "…"), "/")
	matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(p)))
	return err == nil && len(matches) > 0
}

func topLevel(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	top := map[string]bool{}
	for _, e := range entries {
		top[e.Name()] = true
	}
	return top
}

// Every repository path named in backticks in the layout documents exists.
func TestDocumentedPathsExist(t *testing.T) {
	t.Parallel()
	top := topLevel(t)
	for _, doc := range pathDocs {
		data, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, m := range backticked.FindAllStringSubmatch(string(data), -1) {
			p := m[1]
			if !repoPath(p, top) || elsewhere[p] != "" {
				continue
			}
			checked++
			if !exists(p) {
				t.Errorf("%s names `%s`, which is not in the repository", doc, p)
			}
		}
		if checked == 0 {
			t.Errorf("%s: no repository path found: the matcher is broken", doc)
		}
	}
}

// Every relative link in the Markdown documents leads to a file of the
// repository.
func TestDocumentLinksResolve(t *testing.T) {
	t.Parallel()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(root, "*.md"))
	for _, doc := range append(docs, more...) {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(doc), filepath.FromSlash(target))); err != nil {
				t.Errorf("%s links to %s, which is not in the repository", doc, m[1])
			}
		}
	}
}

// The matcher itself: what counts as a repository path.
func TestRepoPath(t *testing.T) {
	t.Parallel()
	top := map[string]bool{"server": true, "pkg": true}
	tests := []struct {
		in   string
		want bool
	}{
		{"server/oauth", true},
		{"server/…", true},
		{"pkg/*", true},
		{"shared/ARCHITECTURE.md", true}, // a file, wherever it claims to be
		{"server", false},                // one word: a package name in prose
		{"net/http", false},              // an import path
		{"TestHA/etcd-3.6.16", false},    // a subtest
		{"/api/v1/", false},              // a URL path
		{"func(http.Handler)", false},
		{"UpdateClient(ctx,", false},
	}
	for _, tc := range tests {
		if got := repoPath(tc.in, top); got != tc.want {
			t.Errorf("repoPath(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
