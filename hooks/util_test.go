package hooks_test

import "os"

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "scopeline-hooks-test-") }
