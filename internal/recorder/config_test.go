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

package recorder

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

var envNames = []string{"MYSQL_HOST", "MYSQL_PORT", "MYSQL_DB_NAME", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_TLS",
	"MYSQL_TLS_CA_FILE"}

func TestConfigFromEnv(t *testing.T) {
	full := map[string]string{"MYSQL_HOST": "db", "MYSQL_DB_NAME": "ejob", "MYSQL_USER": "u", "MYSQL_PASSWORD": "pw"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range full {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{"default port", full, Config{Host: "db", Port: 3306, DBName: "ejob", User: "u", Password: "pw"}, ""},
		{"port", with("MYSQL_PORT", "3307"), Config{Host: "db", Port: 3307, DBName: "ejob", User: "u",
			Password: "pw"}, ""},
		{"no password", with("MYSQL_PASSWORD", ""), Config{Host: "db", Port: 3306, DBName: "ejob", User: "u"}, ""},
		{"bad port", with("MYSQL_PORT", "mysql"), Config{}, `MYSQL_PORT "mysql" is not a port number (1-65535)`},
		{"port out of range", with("MYSQL_PORT", "65536"), Config{}, `MYSQL_PORT "65536" is not a port number`},
		{"missing", map[string]string{"MYSQL_USER": "u"}, Config{},
			"--meta-storage mysql needs [MYSQL_HOST MYSQL_DB_NAME] set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range envNames {
				t.Setenv(k, tt.env[k])
			}
			got, err := ConfigFromEnv()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %#v (password %q), want %#v", got, got.Password, tt.want)
			}
		})
	}
}

// TestMySQLOverlayFeedsConfigFromEnv checks that config/mysql gives the manager the
// flag and the environment it reads: every variable comes from a key of the Secret,
// and ConfigFromEnv accepts what the Secret holds.
func TestMySQLOverlayFeedsConfigFromEnv(t *testing.T) {
	dir := filepath.Join(testutil.RepoRoot(), "config", "mysql")
	var secret corev1.Secret
	readYAML(t, filepath.Join(dir, "mysql_secret.yaml"), &secret)
	var patch []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	readYAML(t, filepath.Join(dir, "manager_mysql_patch.yaml"), &patch)

	var args []string
	var env []corev1.EnvVar
	for _, op := range patch {
		switch op.Path {
		case "/spec/template/spec/containers/0/args/-":
			var arg string
			if err := json.Unmarshal(op.Value, &arg); err != nil {
				t.Fatal(err)
			}
			args = append(args, arg)
		case "/spec/template/spec/containers/0/env":
			if err := json.Unmarshal(op.Value, &env); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !slices.Contains(args, "--meta-storage=mysql") {
		t.Errorf("the patch adds the arguments %v, without --meta-storage=mysql", args)
	}
	for _, k := range envNames {
		t.Setenv(k, "")
	}
	set := map[string]bool{}
	for _, e := range env {
		ref := e.ValueFrom.SecretKeyRef
		if ref == nil || ref.Name != secret.Name {
			t.Errorf("%s does not come from the Secret %s", e.Name, secret.Name)
			continue
		}
		v, ok := secret.StringData[ref.Key]
		if !ok && (ref.Optional == nil || !*ref.Optional) {
			t.Errorf("%s reads the key %q, which the Secret lacks", e.Name, ref.Key)
		}
		if ok {
			t.Setenv(e.Name, v)
		}
		set[e.Name] = true
	}
	for _, k := range []string{"MYSQL_HOST", "MYSQL_PORT", "MYSQL_DB_NAME", "MYSQL_USER", "MYSQL_PASSWORD"} {
		if !set[k] {
			t.Errorf("the patch does not set %s", k)
		}
	}
	cfg, err := ConfigFromEnv()
	if err != nil {
		t.Fatalf("the Secret's values do not make a configuration: %v", err)
	}
	want := Config{Host: secret.StringData["host"], DBName: secret.StringData["dbName"], User: secret.StringData["user"],
		Password: secret.StringData["password"], Port: 3306}
	if cfg != want {
		t.Errorf("configuration %#v, want %#v", cfg, want)
	}
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
}
