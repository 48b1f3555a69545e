/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package kubectlejob

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// asMainEnv makes the test binary run as kubectl-ejob (see TestMain), so that kubectl can
// run it as a plugin.
const asMainEnv = "KUBECTL_EJOB_TEST_AS_MAIN"

// completions returns the words `__complete args...` offers, and its directive.
func completions(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit code %d: %s", args, code, stderr)
	}
	return splitCompletions(t, stdout)
}

// splitCompletions splits cobra's completion output into the words, without their
// descriptions, and the directive of its last line (":4").
func splitCompletions(t *testing.T, out string) ([]string, string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("no directive in completion output %q", out)
	}
	var words []string
	for _, l := range lines[:len(lines)-1] {
		if l != "" {
			words = append(words, strings.SplitN(l, "\t", 2)[0])
		}
	}
	return words, lines[len(lines)-1]
}

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "__start_kubectl-ejob",
		"zsh":        "#compdef kubectl-ejob",
		"fish":       "complete -c kubectl-ejob",
		"powershell": "Register-ArgumentCompleter -CommandName 'kubectl-ejob'",
	} {
		code, stdout, stderr := runCLI(t, "completion", shell)
		if code != 0 || stderr != "" {
			t.Errorf("completion %s: exit code %d, stderr %q", shell, code, stderr)
		}
		// The scripts ask the binary for the words (__complete), so that they complete
		// the commands and the API server's names as they are when the user types.
		if !strings.Contains(stdout, want) || !strings.Contains(stdout, "__complete") {
			t.Errorf("completion %s lacks %q or __complete:\n%.400s", shell, want, stdout)
		}
	}
	words, directive := completions(t, "")
	for _, cmd := range []string{"completion", "history", "results", "version"} {
		if !slices.Contains(words, cmd) {
			t.Errorf("the commands offered, %v, lack %s", words, cmd)
		}
	}
	if directive != ":4" {
		t.Errorf("directive %s, want :4 (no file completion)", directive)
	}
	if words, _ := completions(t, "history", ""); !slices.Equal(words, []string{"jobs", "pods"}) {
		t.Errorf("history offers %v, want jobs and pods", words)
	}
	if words, _ := completions(t, "results", "x", "-o", "custom"); !slices.Equal(words,
		[]string{"custom-columns", "custom-columns-file"}) {
		t.Errorf("-o custom offers %v", words)
	}
}

// A job's name is completed from the ejobs of the namespace, -n from the namespaces.
func TestCompletionFromTheAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const ns = "completion"
	for _, name := range []string{"hello", "hello-again", "other"} {
		newJobScenario(t, ctx, ns, name)
	}
	kc := "--kubeconfig=" + kubeconfig
	words, directive := completions(t, "results", kc, "-n", ns, "")
	if want := []string{"hello", "hello-again", "other"}; !slices.Equal(words, want) || directive != ":4" {
		t.Errorf("results '' offers %v %s, want %v :4", words, directive, want)
	}
	if words, _ := completions(t, "results", kc, "-n", ns, "hel"); !slices.Equal(words, []string{"hello", "hello-again"}) {
		t.Errorf("results hel offers %v", words)
	}
	if words, _ := completions(t, "results", kc, "-n", ns, "hello", ""); len(words) != 0 {
		t.Errorf("a second job name is offered: %v", words)
	}
	if words, _ := completions(t, "results", kc, "-n", "compl"); !slices.Equal(words, []string{ns}) {
		t.Errorf("-n compl offers %v, want %s", words, ns)
	}
	if words, directive := completions(t, "results", "--kubeconfig=/nonexistent", "-n", ns, ""); len(words) != 0 ||
		directive != ":4" {
		t.Errorf("without an API server: %v %s, want nothing and :4", words, directive)
	}
}

// kubectl completes `kubectl ejob results <TAB>` through kubectl_complete-ejob, which asks
// kubectl-ejob: both are put on the PATH, as `make build-kubectl-ejob` installs them, with
// the test binary standing for kubectl-ejob.
func TestKubectlPluginCompletion(t *testing.T) {
	kubectl := filepath.Join(testutil.AssetsDir(), "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("kubectl is not among the envtest binaries (make envtest-bins): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const ns = "plugin-completion"
	newJobScenario(t, ctx, ns, "from-kubectl")

	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "kubectl-ejob")); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join("..", "..", "cmd", "kubectl-ejob", "kubectl_complete-ejob"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "kubectl_complete-ejob"), script, 0o755); err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, kubectl, "__complete", "ejob", "results", "-n", ns, "")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+kubeconfig, asMainEnv+"=1", "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl __complete: %v: %s", err, out)
	}
	words, directive := splitCompletions(t, string(out))
	if !slices.Equal(words, []string{"from-kubectl"}) || directive != ":4" {
		t.Errorf("kubectl ejob results '' offers %v %s, want [from-kubectl] :4", words, directive)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := runCLI(t, "version")
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "kubectl-ejob dev (go") {
		t.Errorf("version: exit code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	_, stdout, _ = runCLI(t, "version", "-o", "json")
	var v VersionInfo
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || v.Version != "dev" || v.GoVersion == "" ||
		v.Platform == "" {
		t.Errorf("version -o json = %q (%v)", stdout, err)
	}
	if _, stdout, _ = runCLI(t, "version", "-o", "yaml"); !strings.HasPrefix(stdout, "goVersion: go") ||
		!strings.Contains(stdout, "version: dev\n") {
		t.Errorf("version -o yaml = %q", stdout)
	}
}
