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
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/cmd/get"
)

// Output formats of -o that the commands print themselves, as tables.
const (
	formatTable = ""
	formatWide  = "wide"
	formatName  = "name"
)

// printFlags are -o and the flags that go with it, as kubectl's: the formats of
// genericclioptions.PrintFlags (json, yaml, kyaml, name, go-template, jsonpath and their
// file forms, with --template and --allow-missing-template-keys), kubectl's custom-columns,
// --no-headers, and the command's own table forms.
type printFlags struct {
	output    string
	noHeaders bool
	print     *genericclioptions.PrintFlags
	columns   *get.CustomColumnsPrintFlags
	// tables are the table forms of the command: "" (the default) and, for some, "wide".
	tables []string
	// outputChanged tells whether -o was given, set by addFlags.
	outputChanged func() bool
}

func newPrintFlags(tables ...string) *printFlags {
	f := &printFlags{print: genericclioptions.NewPrintFlags(""), columns: get.NewCustomColumnsPrintFlags(),
		tables: append([]string{formatTable}, tables...), outputChanged: func() bool { return false }}
	f.print.OutputFormat = &f.output
	return f
}

// formats lists the values of -o, the command's table forms first.
func (f *printFlags) formats() []string {
	out := slices.Clone(f.tables[1:])
	out = append(out, f.print.AllowedFormats()...)
	return append(out, f.columns.AllowedFormats()...)
}

func (f *printFlags) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.output, "output", "o", f.output, fmt.Sprintf(
		"Output format: a table (the default), or one of %s; see docs/kubectl-ejob.md for the printed object.",
		strings.Join(f.formats(), ", ")))
	f.outputChanged = func() bool { return cmd.Flag("output").Changed }
	f.print.OutputFlagSpecified = f.outputChanged
	f.print.TemplatePrinterFlags.AddFlags(cmd)
	cmd.Flags().BoolVar(&f.noHeaders, "no-headers", false,
		"Print tables, and -o custom-columns, without their header line.")
	_ = cmd.RegisterFlagCompletionFunc("output", func(_ *cobra.Command, _ []string, toComplete string) ([]string,
		cobra.ShellCompDirective) {
		return withPrefix(f.formats(), toComplete), cobra.ShellCompDirectiveNoFileComp
	})
}

// templateGiven reports whether --template was given.
func (f *printFlags) templateGiven() bool {
	t := f.print.TemplatePrinterFlags.TemplateArgument
	return t != nil && *t != ""
}

// table reports whether the command prints a table of its own: a table form, and no
// --template without -o (which kubectl takes for -o go-template).
func (f *printFlags) table() bool {
	return slices.Contains(f.tables, f.output) && !(f.output == formatTable && f.templateGiven())
}

// name reports whether -o name was asked for.
func (f *printFlags) name() bool { return f.output == formatName }

// toPrinter returns the printer of -o, or nil for a table; an -o it does not know, or a
// template that does not parse, is an error that says so.
func (f *printFlags) toPrinter() (printers.ResourcePrinter, error) {
	if f.table() {
		return nil, nil
	}
	if format, _, _ := strings.Cut(f.output, "="); slices.Contains(f.columns.AllowedFormats(), format) {
		f.columns.NoHeaders = f.noHeaders
		if f.templateGiven() {
			f.columns.TemplateArgument = *f.print.TemplatePrinterFlags.TemplateArgument
		}
		p, err := f.columns.ToPrinter(f.output)
		if err != nil {
			return nil, fmt.Errorf("-o %s: %w", f.output, err)
		}
		return p, nil
	}
	p, err := f.print.ToPrinter()
	if genericclioptions.IsNoCompatiblePrinterError(err) {
		return nil, fmt.Errorf("-o %q is not one of %s", f.output, strings.Join(f.formats(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("-o %s: %w", f.output, err)
	}
	return p, nil
}
