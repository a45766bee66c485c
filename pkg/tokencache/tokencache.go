// Package tokencache keeps access tokens between runs of short-lived
// programs (a shell loop calling `tokenwright token`), so that a script
// which asks for a token a thousand times makes one token request.
//
// Entries live in one file per (token URL, client id, secret, scopes,
// audiences). The file name is a SHA-256 over those, so neither the client
// secret nor anything that identifies it is written anywhere; a wrong or
// rotated secret simply misses. Files are 0600 in a 0700 directory and are
// replaced atomically (temporary file + rename), so a concurrent reader sees
// either the old or the new token, never half of one.
package tokencache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenwright/tokenwright/internal/ownerfile"
)

// MaxMargin is the most a token's remaining life must exceed for it to be
// reused. Shorter tokens use a tenth of their lifetime instead, so that a
// 30-second token is still reused for 27 seconds.
const MaxMargin = time.Minute

// Key names the token a cache entry holds.
type Key struct {
	TokenURL     string
	ClientID     string
	ClientSecret string // hashed into the file name, never stored
	Scopes       []string
	Audiences    []string
}

// fileName is the hex SHA-256 of the key's canonical form. Scopes and
// audiences are sorted: their order does not change the token.
func (k Key) fileName() string {
	scopes, auds := slices.Clone(k.Scopes), slices.Clone(k.Audiences)
	slices.Sort(scopes)
	slices.Sort(auds)
	secret := sha256.Sum256([]byte(k.ClientSecret))
	// JSON encoding makes the concatenation unambiguous.
	canon, _ := json.Marshal([]any{"tokenwright-cache-v1", k.TokenURL, k.ClientID, hex.EncodeToString(secret[:]), scopes, auds})
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]) + ".json"
}

// entry is the on-disk form.
type entry struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	Scope       string    `json:"scope,omitempty"`
	IssuedAt    time.Time `json:"issued_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// Cache is a directory of cached tokens.
type Cache struct {
	Dir string
	// Now replaces the clock (tests).
	Now func() time.Time
	// WriteError, if set, hears about entries that could not be stored.
	WriteError func(error)
}

// DefaultDir is os.UserCacheDir()/tokenwright ($XDG_CACHE_HOME/tokenwright
// or ~/.cache/tokenwright on Linux).
func DefaultDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("token cache: %w", err)
	}
	return filepath.Join(base, "tokenwright"), nil
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// reusable reports whether a token issued at iat and expiring at exp may
// still be handed out at now.
func reusable(iat, exp, now time.Time) bool {
	margin := MaxMargin
	if life := exp.Sub(iat); life > 0 && life/10 < margin {
		margin = life / 10
	}
	return now.Add(margin).Before(exp)
}

// Get returns the cached token for k if it is still comfortably valid.
// Any problem reading the entry is a miss: the cache is an optimisation.
func (c *Cache) Get(k Key) (*oauth2.Token, bool) {
	data, err := os.ReadFile(filepath.Join(c.Dir, k.fileName()))
	if err != nil {
		return nil, false
	}
	var e entry
	if err := json.Unmarshal(data, &e); err != nil || e.AccessToken == "" || e.ExpiresAt.IsZero() {
		return nil, false
	}
	if !reusable(e.IssuedAt, e.ExpiresAt, c.now()) {
		return nil, false
	}
	tok := &oauth2.Token{AccessToken: e.AccessToken, TokenType: e.TokenType, Expiry: e.ExpiresAt}
	if e.Scope != "" {
		tok = tok.WithExtra(map[string]any{"scope": e.Scope})
	}
	return tok, true
}

// Put stores tok for k. Tokens without an expiry are not cached: we could
// not tell when to stop reusing them.
func (c *Cache) Put(k Key, tok *oauth2.Token) error {
	if tok == nil || tok.AccessToken == "" || tok.Expiry.IsZero() {
		return nil
	}
	if err := c.ensureDir(); err != nil {
		return err
	}
	e := entry{AccessToken: tok.AccessToken, TokenType: tok.TokenType, IssuedAt: c.now().UTC(), ExpiresAt: tok.Expiry.UTC()}
	if s, ok := tok.Extra("scope").(string); ok {
		e.Scope = s
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(c.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	tmp := f.Name()
	// CreateTemp already uses 0600; Restrict guards against an odd umask
	// and, on Windows, the directory's inherited DACL.
	werr := errors.Join(ownerfile.Restrict(tmp), writeAll(f, data), f.Close())
	if werr == nil {
		werr = os.Rename(tmp, filepath.Join(c.Dir, k.fileName()))
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("token cache: %w", werr)
	}
	return nil
}

func writeAll(f *os.File, data []byte) error {
	_, err := f.Write(data)
	return err
}

// Delete forgets k's token (after the server refused it, say).
func (c *Cache) Delete(k Key) error {
	err := os.Remove(filepath.Join(c.Dir, k.fileName()))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// ensureDir creates the directory owner-only, and tightens it if someone
// made it wider: other local users must not read tokens.
func (c *Cache) ensureDir() error {
	if err := ownerfile.MkdirAll(c.Dir); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	if err := ownerfile.Restrict(c.Dir); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	return nil
}

// Token returns k's cached token (hit is true), or calls fetch and caches
// its result. A failure to write the cache does not fail the call: it goes
// to WriteError, if set, so that the caller can warn.
func (c *Cache) Token(k Key, fetch func() (*oauth2.Token, error)) (tok *oauth2.Token, hit bool, err error) {
	if t, ok := c.Get(k); ok {
		return t, true, nil
	}
	if tok, err = fetch(); err != nil {
		return nil, false, err
	}
	if perr := c.Put(k, tok); perr != nil && c.WriteError != nil {
		c.WriteError(perr)
	}
	return tok, false, nil
}
