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

// Package profile applies named security profiles to an ephemeral container, the ones
// `kubectl debug --profile` offers for the container it adds to a pod: general, baseline,
// restricted, netadmin and sysadmin.
//
// A profile changes only the container's securityContext. general, netadmin and sysadmin
// add the privileges a kind of debugging needs and leave the rest as the template wrote it.
// baseline and restricted are for namespaces that enforce the Pod Security level of that
// name: they take precedence over the template, removing what the level forbids and setting
// what it requires, so that the container passes the level on its own, whatever pod it is
// added to.
package profile

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
)

// The profiles' names.
const (
	// General adds SYS_PTRACE, to inspect the target's processes.
	General = "general"
	// Baseline removes what the baseline Pod Security level forbids.
	Baseline = "baseline"
	// Restricted removes what the restricted Pod Security level forbids and sets what it requires.
	Restricted = "restricted"
	// NetAdmin adds NET_ADMIN and NET_RAW, to inspect and change the pod's network.
	NetAdmin = "netadmin"
	// SysAdmin makes the container privileged.
	SysAdmin = "sysadmin"
)

// NonRootUser is the user the restricted profile runs a container as when the template
// names no user, or names root: 65534, "nobody" in most images.
//
// Restricted requires runAsNonRoot, and with it the kubelet refuses to start a container
// whose image runs as root (busybox, most debugging images) or names its user by name, since
// it cannot tell that user is not root. A numeric non-root user set here lets any image start.
// A template that needs the target's user (with every capability dropped, reading the
// target's files through /proc/<pid>/root needs the same user) names it in runAsUser, which
// the profile keeps.
const NonRootUser int64 = 65534

// names lists the profiles in the order kubectl debug documents them.
var names = []string{General, Baseline, Restricted, NetAdmin, SysAdmin}

// appliers hold what each profile does to a container.
var appliers = map[string]func(*corev1.EphemeralContainer){
	General:    func(c *corev1.EphemeralContainer) { addCapabilities(c, "SYS_PTRACE") },
	Baseline:   removeBaselineForbidden,
	Restricted: applyRestricted,
	NetAdmin:   func(c *corev1.EphemeralContainer) { addCapabilities(c, "NET_ADMIN", "NET_RAW") },
	SysAdmin:   func(c *corev1.EphemeralContainer) { securityContext(c).Privileged = new(true) },
}

// Names returns the profiles' names.
func Names() []string {
	return slices.Clone(names)
}

// Apply changes c's securityContext as the profile called name says. An unknown name is an
// error that lists the valid ones, and leaves c as it was.
func Apply(name string, c *corev1.EphemeralContainer) error {
	apply, ok := appliers[name]
	if !ok {
		return fmt.Errorf("unknown profile %q: must be one of %s", name, strings.Join(names, ", "))
	}
	apply(c)
	return nil
}

// ForLevel returns the profile that makes a container pass the Pod Security level: general
// for privileged (which forbids nothing), baseline for baseline and restricted for restricted.
// A level that is none of these gets restricted, the strictest, as the API server evaluates
// a namespace whose enforce label it cannot parse.
func ForLevel(level psaapi.Level) string {
	switch level {
	case psaapi.LevelPrivileged:
		return General
	case psaapi.LevelBaseline:
		return Baseline
	default:
		return Restricted
	}
}

// securityContext returns c's securityContext, creating it when it is nil.
func securityContext(c *corev1.EphemeralContainer) *corev1.SecurityContext {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	return c.SecurityContext
}

// addCapabilities adds the capabilities that c does not add yet.
func addCapabilities(c *corev1.EphemeralContainer, capabilities ...corev1.Capability) {
	sc := securityContext(c)
	if sc.Capabilities == nil {
		sc.Capabilities = &corev1.Capabilities{}
	}
	for _, capability := range capabilities {
		if !slices.Contains(sc.Capabilities.Add, capability) {
			sc.Capabilities.Add = append(sc.Capabilities.Add, capability)
		}
	}
}

// removeBaselineForbidden removes from c's securityContext every setting the baseline level
// may forbid: privileged, added capabilities, a host process, an unmasked /proc, custom
// SELinux options, and unconfined seccomp or AppArmor. What is removed falls back to the
// container runtime's defaults, which baseline allows; the default capabilities need no
// adding, so every added one goes, including the few that baseline tolerates.
func removeBaselineForbidden(c *corev1.EphemeralContainer) {
	sc := c.SecurityContext
	if sc == nil {
		return
	}
	sc.Privileged = nil
	if sc.Capabilities != nil {
		sc.Capabilities.Add = nil
		if len(sc.Capabilities.Drop) == 0 {
			sc.Capabilities = nil
		}
	}
	if sc.WindowsOptions != nil {
		sc.WindowsOptions.HostProcess = nil
	}
	sc.ProcMount = nil
	sc.SELinuxOptions = nil
	if sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
		sc.SeccompProfile = nil
	}
	if sc.AppArmorProfile != nil && sc.AppArmorProfile.Type == corev1.AppArmorProfileTypeUnconfined {
		sc.AppArmorProfile = nil
	}
}

// applyRestricted removes what baseline forbids, then sets what restricted requires: a
// non-root user, no privilege escalation, every capability dropped and a seccomp profile
// (the runtime's default, unless the template chose a profile of the node's).
func applyRestricted(c *corev1.EphemeralContainer) {
	removeBaselineForbidden(c)
	sc := securityContext(c)
	sc.RunAsNonRoot = new(true)
	if sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		sc.RunAsUser = new(NonRootUser)
	}
	sc.AllowPrivilegeEscalation = new(false)
	sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeLocalhost {
		sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	}
}
