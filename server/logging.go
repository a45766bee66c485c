package server

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/server/config"
)

// NewLogger builds the process logger: human-readable console output when
// format is "console", or "auto" and w is a terminal; JSON otherwise. Every
// line passes through apikey.RedactWriter.
func NewLogger(w io.Writer, format, level string) (zerolog.Logger, error) {
	l, err := config.ParseLogLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log.level: %w", err)
	}
	if format == "console" || format == "auto" && isTerminal(w) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	// Redaction at the sink: whatever field a client put a secret in
	// (client_id, scope, a path), no line carries it.
	w = apikey.RedactWriter(w)
	return zerolog.New(w).Level(l).Hook(timestampHook{}), nil
}

// TimeFormat is the log lines' "time": RFC 3339 in UTC with milliseconds,
// so that lines of one second can be ordered and correlated.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// timestampHook adds "time" to each line in TimeFormat. zerolog's own
// Timestamp() formats with the package-wide zerolog.TimeFieldFormat; this
// hook keeps the format to the loggers NewLogger builds instead of changing
// it for every zerolog user in the process (tests, libraries).
type timestampHook struct{}

func (timestampHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().UTC().Format(TimeFormat))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
