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

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// krewPlugin is the part of krew's Plugin manifest the checks read.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		ShortDescription string `json:"shortDescription"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

// The krew manifest names the plugin ejob (so kubectl runs it as `kubectl ejob`), and has
// one platform per archive hack/plugin-release.sh builds, each installing the binary and
// kubectl's completion script, with every placeholder the script fills in.
func TestKrewManifest(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "plugins", "ejob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p krewPlugin
	if err := yaml.Unmarshal(data, &p); err != nil {
		t.Fatalf("plugins/ejob.yaml: %v", err)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" || p.Metadata.Name != "ejob" {
		t.Errorf("not krew's Plugin named ejob: %s %s %s", p.APIVersion, p.Kind, p.Metadata.Name)
	}
	if p.Spec.Version != "{{VERSION}}" || p.Spec.ShortDescription == "" {
		t.Errorf("version %q, short description %q", p.Spec.Version, p.Spec.ShortDescription)
	}
	script, err := os.ReadFile(filepath.Join("..", "..", "hack", "plugin-release.sh"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, pl := range p.Spec.Platforms {
		os, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		key := os + "_" + arch
		if seen[key] {
			t.Errorf("platform %s twice", key)
		}
		seen[key] = true
		if !strings.Contains(string(script), os+"/"+arch) {
			t.Errorf("hack/plugin-release.sh builds no archive for %s", key)
		}
		if pl.URI != "{{URL}}/kubectl-ejob_{{VERSION}}_"+key+".tar.gz" || pl.SHA256 != "{{SHA256_"+key+"}}" {
			t.Errorf("%s: uri %q, sha256 %q", key, pl.URI, pl.SHA256)
		}
		if pl.Bin != "kubectl-ejob" || len(pl.Files) != 2 || pl.Files[0].From != "kubectl-ejob" ||
			pl.Files[1].From != "kubectl_complete-ejob" {
			t.Errorf("%s: bin %q, files %+v", key, pl.Bin, pl.Files)
		}
	}
	for _, key := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"} {
		if !seen[key] {
			t.Errorf("no platform %s", key)
		}
	}
}
