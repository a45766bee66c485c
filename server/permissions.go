package server

import (
	"os"
	"path/filepath"

	"github.com/tokenwright/tokenwright/store/bolt"
)

// warnOnLoosePermissions warns when the data directory, the database or a
// KEK file can be read by other users of the machine: the database holds
// the sealed signing keys and the KEK unseals them. tokenwright creates
// them 0700/0600 itself; looser modes come from copies and restores.
func (s *Server) warnOnLoosePermissions(kekFile string) {
	check := func(path string, what string, dir bool) {
		fi, err := os.Stat(path)
		if err != nil {
			return
		}
		mode := fi.Mode().Perm()
		loose := mode&0o077 != 0
		if dir {
			loose = mode&0o022 != 0 || mode&0o007 != 0
		}
		if loose {
			s.log.Warn().Str("path", path).Str("mode", mode.String()).
				Msgf("the %s is accessible to other users; run chmod %s %s", what, map[bool]string{true: "700", false: "600"}[dir], path)
		}
	}
	check(s.cfg.DataDir, "data directory", true)
	check(filepath.Join(s.cfg.DataDir, bolt.FileName), "database", false)
	check(filepath.Join(s.cfg.DataDir, "kek"), "key-encryption key", false)
	if kekFile != "" {
		check(kekFile, "key-encryption key", false)
	}
	check(filepath.Join(s.cfg.DataDir, AdminTokenFile), "bootstrap admin token file", false)
}
