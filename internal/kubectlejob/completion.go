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
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// Shell completion. cobra's `completion` command prints the scripts of bash, zsh, fish
// and powershell for the kubectl-ejob binary; kubectl (1.26 and later) completes
// `kubectl ejob ...` by running kubectl_complete-ejob (cmd/kubectl-ejob), which asks
// `kubectl-ejob __complete`. Both end here, with the flags of the command line parsed.

// completionTimeout bounds the requests of one completion: a shell waits for them.
const completionTimeout = 5 * time.Second

// registerGlobalCompletions completes the values of the flags every command takes.
func registerGlobalCompletions(root *cobra.Command, f *factory) {
	_ = root.RegisterFlagCompletionFunc("namespace", func(cmd *cobra.Command, _ []string, toComplete string) (
		[]string, cobra.ShellCompDirective) {
		return listNames(cmd.Context(), toComplete, func(ctx context.Context) ([]string, error) {
			_, kube, err := f.clients()
			if err != nil {
				return nil, err
			}
			list, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			names := make([]string, 0, len(list.Items))
			for _, ns := range list.Items {
				names = append(names, ns.Name)
			}
			return names, nil
		})
	})
	for _, flag := range []string{"context", "cluster", "user"} {
		_ = root.RegisterFlagCompletionFunc(flag, kubeconfigNames(f, flag))
	}
}

// jobNameCompletion completes a job's name: the ejobs of the namespace (-n, or the
// kubeconfig's), read from the API server.
func jobNameCompletion(f *factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return listNames(cmd.Context(), toComplete, func(ctx context.Context) ([]string, error) {
			ns, err := f.namespace()
			if err != nil {
				return nil, err
			}
			dyn, _, err := f.clients()
			if err != nil {
				return nil, err
			}
			list, err := dyn.Resource(appsv1alpha1.GroupVersion.WithResource("ephemeraljobs")).Namespace(ns).
				List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			names := make([]string, 0, len(list.Items))
			for _, j := range list.Items {
				names = append(names, j.GetName())
			}
			return names, nil
		})
	}
}

// listNames returns the names list returns that start with toComplete. A completion that
// cannot reach the API server offers nothing rather than an error the shell would print
// amid the command line.
func listNames(ctx context.Context, toComplete string, list func(context.Context) ([]string, error)) (
	[]string, cobra.ShellCompDirective) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	names, err := list(ctx)
	if err != nil {
		// Written to $BASH_COMP_DEBUG_FILE when set, never amid the command line.
		cobra.CompDebugln("listing names to complete: "+err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// withPrefix returns the words that start with prefix.
func withPrefix(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

// kubeconfigNames completes --context, --cluster or --user from the kubeconfig.
func kubeconfigNames(f *factory, flag string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		cfg, err := f.config.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		switch flag {
		case "context":
			for n := range cfg.Contexts {
				names = append(names, n)
			}
		case "cluster":
			for n := range cfg.Clusters {
				names = append(names, n)
			}
		case "user":
			for n := range cfg.AuthInfos {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}
