package btcclient

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A module that requires this one through a replace directive builds with a plain
// `go build`: no CGO_* variables, the #cgo directives find the header and the library of
// the checkout. (With the btcclient_nolib tag the library comes from CGO_LDFLAGS by design,
// so there is nothing to check.)
func TestDependentModuleBuilds(t *testing.T) {
	if linkedLibrary == "" {
		t.Skip("built with -tags btcclient_nolib: the library comes from CGO_LDFLAGS")
	}
	if testing.Short() {
		t.Skip("builds and links a program")
	}
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/dependent\n\ngo 1.19\n\n" +
			"require github.com/btcclient/btcclient-go v0.0.0\n\n" +
			"replace github.com/btcclient/btcclient-go => " + here + "\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\tbtcclient \"github.com/btcclient/btcclient-go\"\n)\n\n" +
			"func main() { fmt.Print(btcclient.Version()) }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CGO_") || strings.HasPrefix(kv, "GOFLAGS=") || strings.HasPrefix(kv, "GOPROXY=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "GOFLAGS=-mod=mod", "GOPROXY=off", "CGO_ENABLED=1")
	args := []string{"build", "-o", "dependent"}
	if linkedLibrary == "debug" {
		args = append(args, "-tags", "btcclient_debug")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Dir, build.Env = dir, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s in a dependent module: %v\n%s", strings.Join(args, " "), err, out)
	}
	out, err := exec.Command(filepath.Join(dir, "dependent")).Output()
	if err != nil || string(out) != Version() {
		t.Fatalf("dependent program: %q, %v; want %q", out, err, Version())
	}
	t.Logf("go %s: the dependent program prints %s", strings.Join(args, " "), out)
}
