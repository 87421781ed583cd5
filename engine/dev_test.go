package engine

import (
	"reflect"
	"testing"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
)

// TestModuleEnv: the environment is process.env exactly, plus PWD only for
// a working directory other than "/" that process.env does not set
// (issue 17).
func TestModuleEnv(t *testing.T) {
	for _, c := range []struct {
		env  []string
		cwd  string
		want [][2]string
	}{
		{[]string{"A=1", "B=x=y"}, "/", [][2]string{{"A", "1"}, {"B", "x=y"}}},
		{nil, "", [][2]string{}},
		{[]string{"A=1"}, "/app", [][2]string{{"A", "1"}, {"PWD", "/app"}}},
		{[]string{"PWD=/else"}, "/app", [][2]string{{"PWD", "/else"}}},
		{nil, "/app/../", [][2]string{}},
	} {
		if got := moduleEnv(wasispec.Config{Env: c.env, Cwd: c.cwd}); !reflect.DeepEqual(got, c.want) {
			t.Errorf("env %q cwd %q: %q, want %q", c.env, c.cwd, got, c.want)
		}
	}
}
