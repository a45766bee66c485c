package signing_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/store/bolt"
)

func openStore(t *testing.T, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newKEK(t *testing.T) *signing.KEK {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	k, err := signing.NewKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEveryAlgorithmSignsAndVerifies(t *testing.T) {
	for _, alg := range signing.Supported {
		t.Run(string(alg), func(t *testing.T) {
			s := openStore(t, filepath.Join(t.TempDir(), "db"))
			defer s.Close()
			m := signing.NewManager(s, newKEK(t), signing.Options{Algorithm: alg})
			if err := m.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			st := m.Current()
			jwt, err := st.Active.Sign([]byte(`{"sub":"x"}`), signing.TypeATJWT)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := jose.ParseSignedCompact(jwt, []jose.SignatureAlgorithm{alg})
			if err != nil {
				t.Fatal(err)
			}
			h := parsed.Signatures[0].Protected
			if h.KeyID != st.Active.KeyID || h.Algorithm != string(alg) || h.ExtraHeaders["typ"] != "at+jwt" {
				t.Fatalf("header %+v", h)
			}
			keys := st.PublicKeys.Key(h.KeyID)
			if len(keys) != 1 || !keys[0].IsPublic() || keys[0].Use != "sig" || keys[0].Algorithm != string(alg) {
				t.Fatalf("published key wrong: %+v", keys)
			}
			payload, err := parsed.Verify(keys[0])
			if err != nil || string(payload) != `{"sub":"x"}` {
				t.Fatalf("verify: %v %s", err, payload)
			}
		})
	}
}

func TestReloadKeepsKeyAndWrongKEKRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	kek := newKEK(t)
	s := openStore(t, path)
	m := signing.NewManager(s, kek, signing.Options{})
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	kid := m.Current().Active.KeyID
	etag := m.Current().ETag
	s.Close()
	before, _ := os.ReadFile(path)

	s = openStore(t, path)
	err := signing.NewManager(s, newKEK(t), signing.Options{}).Load(context.Background())
	if !errors.Is(err, signing.ErrWrongKEK) {
		t.Fatalf("wrong KEK: got %v, want ErrWrongKEK", err)
	}
	s.Close()
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("a start with the wrong KEK changed the database file")
	}

	s = openStore(t, path)
	defer s.Close()
	m = signing.NewManager(s, kek, signing.Options{})
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.Current().Active.KeyID != kid || m.Current().ETag != etag {
		t.Fatal("reload produced a different key set")
	}
}

func TestLoadKEK(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "kek")
	k1, src, err := signing.LoadKEK("", "", def)
	if err != nil || src != signing.KEKGenerated {
		t.Fatalf("generate: %v %s", err, src)
	}
	fi, _ := os.Stat(def)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated KEK mode %o", fi.Mode().Perm())
	}
	k2, src, err := signing.LoadKEK("", "", def)
	if err != nil || src != signing.KEKFromDataDir || k2.ID() != k1.ID() {
		t.Fatalf("reload: %v %s", err, src)
	}
	if _, _, err := signing.LoadKEK("not base64!", "", def); err == nil {
		t.Fatal("bad env KEK accepted")
	}
	if _, _, err := signing.LoadKEK("", filepath.Join(dir, "missing"), def); err == nil {
		t.Fatal("missing KEK file accepted")
	}
}
