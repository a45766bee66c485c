package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// storedLogin is what `tokenwright login` keeps for one server: a CLI
// session credential (tws_…; a short-lived single sign-on session, never a
// personal access token) and what the server said about it.
type storedLogin struct {
	Token              string    `json:"token"`
	User               string    `json:"user"`
	SignedInAt         time.Time `json:"signedInAt"`
	ExpiresAt          time.Time `json:"expiresAt"`
	IdleTimeoutSeconds int64     `json:"idleTimeoutSeconds"`
}

// loginFile is the file of stored logins, by server URL.
type loginFile struct {
	Servers map[string]storedLogin `json:"servers"`
}

// loginFileName is the file under the user's config directory.
const loginFileName = "tokenwright/logins.json"

// configDir is os.UserConfigDir read from getenv (injected, so that a test
// never sees the developer's own logins).
func configDir(getenv env) (string, error) {
	var dir string
	switch runtime.GOOS {
	case "windows":
		dir = getenv.Get("AppData")
	case "darwin", "ios":
		if h := getenv.Get("HOME"); h != "" {
			dir = filepath.Join(h, "Library", "Application Support")
		}
	default:
		dir = getenv.Get("XDG_CONFIG_HOME")
		if dir == "" || !filepath.IsAbs(dir) {
			dir = ""
			if h := getenv.Get("HOME"); h != "" {
				dir = filepath.Join(h, ".config")
			}
		}
	}
	if dir == "" {
		return "", errors.New("no user config directory: set HOME (or XDG_CONFIG_HOME)")
	}
	return dir, nil
}

func loginFilePath(getenv env) (string, error) {
	dir, err := configDir(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.FromSlash(loginFileName)), nil
}

// loginKey is a server URL as logins are keyed (no trailing slash).
func loginKey(server string) string { return strings.TrimRight(server, "/") }

func readLogins(path string) (loginFile, error) {
	f := loginFile{Servers: map[string]storedLogin{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("%s is damaged (%v): delete it and run tokenwright login", path, err)
	}
	if f.Servers == nil {
		f.Servers = map[string]storedLogin{}
	}
	return f, nil
}

// writeLogins replaces the file whole (a temporary file, renamed): mode
// 0600 in a 0700 directory, since it holds credentials.
func writeLogins(path string, f loginFile) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".logins-*") // 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// loginFor is the stored login for server, if there is one. Without a
// config directory there is none.
func loginFor(getenv env, server string) (storedLogin, bool, error) {
	path, err := loginFilePath(getenv)
	if err != nil {
		return storedLogin{}, false, nil
	}
	f, err := readLogins(path)
	if err != nil {
		return storedLogin{}, false, err
	}
	l, ok := f.Servers[loginKey(server)]
	return l, ok, nil
}

// updateLogins reads the file, lets change edit it, and writes it back.
func updateLogins(getenv env, change func(f *loginFile)) error {
	path, err := loginFilePath(getenv)
	if err != nil {
		return err
	}
	f, err := readLogins(path)
	if err != nil {
		return err
	}
	change(&f)
	return writeLogins(path, f)
}

// loginExpiredError: the stored login for a server has passed its expiry.
type loginExpiredError struct {
	server string
	at     time.Time
}

func (e *loginExpiredError) Error() string {
	return fmt.Sprintf("your sign-in to %s expired at %s: run tokenwright login --server %s", e.server, e.at.Local().Format(time.DateTime), e.server)
}
