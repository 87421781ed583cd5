// Package logsetup sets the level and format of every log line of the
// daemon and of its pod servers, which take the daemon's settings.
package logsetup

import (
	"fmt"
	"time"

	"github.com/containerd/log"
	"github.com/sirupsen/logrus"
)

// Setup sets the log level (trace, debug, info, warn, error) and format
// (text or json). Errors name the daemon's flags, where both values come
// from.
func Setup(level, format string) error {
	if err := log.SetLevel(level); err != nil {
		return fmt.Errorf("--log-level %q: %w", level, err)
	}
	switch format {
	case "text":
		logrus.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: time.RFC3339Nano})
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano})
	default:
		return fmt.Errorf("--log-format %q: want text or json", format)
	}
	return nil
}
