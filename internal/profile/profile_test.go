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

package profile

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// Capabilities the tests name.
const (
	all       corev1.Capability = "ALL"
	sysPtrace corev1.Capability = "SYS_PTRACE"
	netRaw    corev1.Capability = "NET_RAW"
)

// rootBusybox is a debugging container as users write it: an image that runs as root, no securityContext.
func rootBusybox() *corev1.EphemeralContainer {
	return &corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "busybox:latest", Command: []string{"sh"},
		},
		TargetContainerName: "app",
	}
}

// hostile is a container that sets everything a Pod Security level can forbid of a container.
func hostile() *corev1.EphemeralContainer {
	c := rootBusybox()
	c.SecurityContext = &corev1.SecurityContext{
		Privileged:               new(true),
		Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN", "NET_BIND_SERVICE"}},
		WindowsOptions:           &corev1.WindowsSecurityContextOptions{HostProcess: new(true)},
		ProcMount:                new(corev1.UnmaskedProcMount),
		SELinuxOptions:           &corev1.SELinuxOptions{User: "root", Type: "spc_t"},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
		AppArmorProfile:          &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined},
		RunAsNonRoot:             new(false),
		RunAsUser:                new(int64(0)),
		AllowPrivilegeEscalation: new(true),
	}
	return c
}

// passes reports whether a pod holding only c, with no pod-level securityContext, passes
// the level at the version, and the API server's reasons when it does not.
func passes(t *testing.T, c *corev1.EphemeralContainer, lv psaapi.LevelVersion) (bool, string) {
	t.Helper()
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatalf("building the evaluator: %v", err)
	}
	spec := &corev1.PodSpec{EphemeralContainers: []corev1.EphemeralContainer{*c}}
	result := policy.AggregateCheckResults(evaluator.EvaluatePod(lv, &metav1.ObjectMeta{}, spec))
	return result.Allowed, result.ForbiddenDetail()
}

// TestProfilesPassLevels is the proof of what each profile is for: for every profile, level
// and template, whether the API server's own Pod Security checks admit the container on a
// pod that adds nothing at pod level.
func TestProfilesPassLevels(t *testing.T) {
	// strictest is the strictest level each profile passes, from any template.
	strictest := map[string]psaapi.Level{
		General:    psaapi.LevelPrivileged,
		Baseline:   psaapi.LevelBaseline,
		Restricted: psaapi.LevelRestricted,
		NetAdmin:   psaapi.LevelPrivileged,
		SysAdmin:   psaapi.LevelPrivileged,
	}
	if diff := cmp.Diff(Names(), []string{General, Baseline, Restricted, NetAdmin, SysAdmin}); diff != "" {
		t.Fatalf("Names() (-got +want):\n%s", diff)
	}
	templates := map[string]func() *corev1.EphemeralContainer{"root busybox": rootBusybox, "hostile": hostile}
	levels := []psaapi.Level{psaapi.LevelPrivileged, psaapi.LevelBaseline, psaapi.LevelRestricted}
	versions := []psaapi.Version{psaapi.LatestVersion(), psaapi.MajorMinorVersion(1, 35),
		psaapi.MajorMinorVersion(1, 25), psaapi.MajorMinorVersion(1, 22)}

	for _, name := range Names() {
		for templateName, template := range templates {
			for _, level := range levels {
				for _, version := range versions {
					lv := psaapi.LevelVersion{Level: level, Version: version}
					t.Run(fmt.Sprintf("%s/%s/%s", name, templateName, lv), func(t *testing.T) {
						c := template()
						if err := Apply(name, c); err != nil {
							t.Fatalf("Apply(%q) = %v", name, err)
						}
						want := psaapi.CompareLevels(strictest[name], level) >= 0
						if got, why := passes(t, c, lv); got != want {
							t.Errorf("passes %s = %t (%s), want %t", lv, got, why, want)
						}
					})
				}
			}
		}
	}
}

// TestUnprofiledTemplatesFail keeps TestProfilesPassLevels honest: without a profile, both
// templates fail baseline and restricted.
func TestUnprofiledTemplatesFail(t *testing.T) {
	for _, tc := range []struct {
		name     string
		template *corev1.EphemeralContainer
		level    psaapi.Level
		want     bool
	}{
		{"root busybox, baseline", rootBusybox(), psaapi.LevelBaseline, true},
		{"root busybox, restricted", rootBusybox(), psaapi.LevelRestricted, false},
		{"hostile, baseline", hostile(), psaapi.LevelBaseline, false},
		{"hostile, restricted", hostile(), psaapi.LevelRestricted, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lv := psaapi.LevelVersion{Level: tc.level, Version: psaapi.LatestVersion()}
			if got, why := passes(t, tc.template, lv); got != tc.want {
				t.Errorf("passes %s = %t (%s), want %t", lv, got, why, tc.want)
			}
		})
	}
}

func TestApply(t *testing.T) {
	restricted := &corev1.SecurityContext{
		RunAsNonRoot:             new(true),
		RunAsUser:                new(NonRootUser),
		AllowPrivilegeEscalation: new(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{all}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	withSC := func(sc *corev1.SecurityContext) *corev1.EphemeralContainer {
		c := rootBusybox()
		c.SecurityContext = sc
		return c
	}
	tests := []struct {
		name    string
		profile string
		in      *corev1.SecurityContext
		want    *corev1.SecurityContext
	}{
		{
			name:    "general adds SYS_PTRACE",
			profile: General,
			want:    &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{sysPtrace}}},
		},
		{
			name:    "general keeps what the template adds and does not add twice",
			profile: General,
			in:      &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{sysPtrace, "KILL"}}},
			want:    &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{sysPtrace, "KILL"}}},
		},
		{
			name:    "netadmin adds NET_ADMIN and NET_RAW after a dropped ALL",
			profile: NetAdmin,
			in:      &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{all}}},
			want: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
				Drop: []corev1.Capability{all}, Add: []corev1.Capability{"NET_ADMIN", netRaw}}},
		},
		{
			name:    "sysadmin makes the container privileged",
			profile: SysAdmin,
			in:      &corev1.SecurityContext{RunAsUser: new(int64(1000))},
			want:    &corev1.SecurityContext{RunAsUser: new(int64(1000)), Privileged: new(true)},
		},
		{
			name:    "baseline leaves a template without securityContext alone",
			profile: Baseline,
		},
		{
			name:    "baseline removes what baseline forbids and keeps the rest",
			profile: Baseline,
			in: &corev1.SecurityContext{
				Privileged: new(true),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"},
					Drop: []corev1.Capability{netRaw}},
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
				RunAsUser:      new(int64(0)),
			},
			want: &corev1.SecurityContext{
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{netRaw}},
				RunAsUser:    new(int64(0)),
			},
		},
		{
			name:    "baseline keeps a RuntimeDefault seccomp profile",
			profile: Baseline,
			in:      &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			want:    &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		},
		{
			name:    "restricted sets everything restricted requires, and a non-root user",
			profile: Restricted,
			want:    restricted,
		},
		{
			name:    "restricted replaces root",
			profile: Restricted,
			in:      &corev1.SecurityContext{RunAsUser: new(int64(0)), RunAsNonRoot: new(false)},
			want:    restricted,
		},
		{
			name:    "restricted keeps the template's non-root user and group",
			profile: Restricted,
			in:      &corev1.SecurityContext{RunAsUser: new(int64(1000)), RunAsGroup: new(int64(3000))},
			want: &corev1.SecurityContext{
				RunAsNonRoot:             new(true),
				RunAsUser:                new(int64(1000)),
				RunAsGroup:               new(int64(3000)),
				AllowPrivilegeEscalation: new(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{all}},
				SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
		},
		{
			name:    "restricted keeps a Localhost seccomp profile",
			profile: Restricted,
			in: &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{
				Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: new("debug.json")}},
			want: &corev1.SecurityContext{
				RunAsNonRoot:             new(true),
				RunAsUser:                new(NonRootUser),
				AllowPrivilegeEscalation: new(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{all}},
				SeccompProfile: &corev1.SeccompProfile{
					Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: new("debug.json")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := withSC(tt.in)

			if err := Apply(tt.profile, c); err != nil {
				t.Fatalf("Apply(%q) = %v", tt.profile, err)
			}

			if diff := cmp.Diff(tt.want, c.SecurityContext); diff != "" {
				t.Errorf("securityContext (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(rootBusybox().Command, c.Command); diff != "" {
				t.Errorf("a field outside securityContext changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyUnknownProfile(t *testing.T) {
	c := hostile()

	err := Apply("legacy", c)

	want := `unknown profile "legacy": must be one of general, baseline, restricted, netadmin, sysadmin`
	if err == nil || err.Error() != want {
		t.Errorf("Apply(\"legacy\") = %v, want %q", err, want)
	}
	if diff := cmp.Diff(hostile(), c); diff != "" {
		t.Errorf("the container changed (-want +got):\n%s", diff)
	}
}

func TestNamesIsACopy(t *testing.T) {
	Names()[0] = "changed"
	if Names()[0] != General {
		t.Errorf("changing what Names returned changed the profiles: %v", Names())
	}
}

func TestForLevel(t *testing.T) {
	for level, want := range map[psaapi.Level]string{
		psaapi.LevelPrivileged: General,
		psaapi.LevelBaseline:   Baseline,
		psaapi.LevelRestricted: Restricted,
		"restrictd":            Restricted,
		"":                     Restricted,
	} {
		if got := ForLevel(level); got != want {
			t.Errorf("ForLevel(%q) = %q, want %q", level, got, want)
		}
	}
}
