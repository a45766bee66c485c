package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/mattn/go-isatty"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/config"
)

func newServeCommand(getenv env) *cobra.Command {
	var configFile, dataDir, listen, issuer string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the token server",
		Long: `Run the token server. Settings come from the config file, then TOKENWRIGHT_*
environment variables, then these flags. On an empty data directory the first
administrator is created and its token written to DATA/admin.token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, getenv, configFile, dataDir)
			if err != nil {
				return err
			}
			flags := cmd.Flags()
			if flags.Changed("listen") {
				cfg.Listen = listen
			}
			if flags.Changed("issuer") {
				cfg.Issuer = issuer
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			// Started by the Windows service control manager: logs to the
			// event log, stopped by the SCM (nil elsewhere).
			host, err := windowsService()
			if err != nil {
				return err
			}
			logOut := cmd.ErrOrStderr()
			if host != nil {
				logOut = host.Log()
			}
			log, err := server.NewLogger(logOut, cfg.Log.Format, cfg.Log.Level)
			if err != nil {
				return err
			}
			// zitadel/oidc logs through the slog default; send it to zerolog.
			slog.SetDefault(slog.New(zerolog.NewSlogHandler(log.With().Str("component", "oidc").Logger())))
			server.TuneRuntime(getenv.Get, cfg.Store)
			// The bootstrap token is shown only to a person at a terminal;
			// otherwise it is in DATA/admin.token, never in the log stream.
			var banner io.Writer
			if out := cmd.OutOrStdout(); isTerminal(out) {
				banner = out
			}
			serve := func(ctx context.Context) error {
				return server.Run(ctx, cfg, server.Options{Logger: log, Banner: banner, Environ: getenv.Get})
			}
			if host != nil {
				err = host.Run(cmd.Context(), serve)
			} else {
				err = serve(cmd.Context())
			}
			if err != nil {
				// Through the logger, so that with JSON logs this line is
				// JSON too.
				log.Error().Err(err).Msg("tokenwright stopped")
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "config file (YAML or JSON; env TOKENWRIGHT_CONFIG)")
	f.StringVar(&dataDir, "data", "", "data directory (default ./tokenwright-data; env TOKENWRIGHT_DATA)")
	f.StringVar(&listen, "listen", "", "listen address (default 127.0.0.1:8080; env TOKENWRIGHT_LISTEN)")
	f.StringVar(&issuer, "issuer", "", "issuer URL, exactly as verifiers will see it (env TOKENWRIGHT_ISSUER; default http://LISTEN for a loopback listen address, required otherwise)")
	return cmd
}

// loadConfig reads the config file (--config or TOKENWRIGHT_CONFIG), the
// TOKENWRIGHT_* environment, and a --data flag when given: what every
// command that works on a data directory needs.
func loadConfig(cmd *cobra.Command, getenv env, configFile, dataDir string) (config.Config, error) {
	if configFile == "" {
		configFile = getenv.Get("TOKENWRIGHT_CONFIG")
	}
	cfg, err := config.Load(configFile, getenv)
	if err != nil {
		return cfg, err
	}
	if cmd.Flags().Changed("data") {
		cfg.DataDir = dataDir
	}
	return cfg, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
