package server

import (
	"path/filepath"

	"github.com/tokenwright/tokenwright/internal/ownerfile"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// warnOnLoosePermissions warns when the data directory, the database or a
// KEK file can be read by other users of the machine: the database holds
// the sealed signing keys and the KEK unseals them. tokenwright creates
// them owner-only itself (internal/ownerfile: modes on Unix, a DACL on
// Windows); looser permissions come from copies and restores.
func (s *Server) warnOnLoosePermissions(kekFile string) {
	check := func(path string, what string, dir bool) {
		exposed, err := ownerfile.Exposed(path)
		if err != nil || !exposed {
			return
		}
		s.log.Warn().Str("path", path).
			Msgf("the %s is accessible to other users; run %s", what, ownerfile.FixCommand(path, dir))
	}
	check(s.cfg.DataDir, "data directory", true)
	check(filepath.Join(s.cfg.DataDir, bolt.FileName), "database", false)
	check(filepath.Join(s.cfg.DataDir, "kek"), "key-encryption key", false)
	if kekFile != "" {
		check(kekFile, "key-encryption key", false)
	}
	check(filepath.Join(s.cfg.DataDir, AdminTokenFile), "bootstrap admin token file", false)
}
