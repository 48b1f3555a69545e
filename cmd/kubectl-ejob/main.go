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

// Command kubectl-ejob is `kubectl ejob`, the kubectl plugin that shows the results of
// EphemeralJobs, live and from the MySQL history: put it on PATH and run `kubectl ejob --help`.
package main

import "github.com/ephemeraljob/ephemeraljob-operator/internal/kubectlejob"

func main() { kubectlejob.Main() }
