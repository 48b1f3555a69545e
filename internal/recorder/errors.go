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
	"errors"
	"strings"

	"github.com/go-sql-driver/mysql"
)

const redacted = "[redacted]"

// scrubbedError is an error whose text had every secret removed. It unwraps to the
// original only when the text held no secret, so no caller can reach the secret
// through errors.Unwrap.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }

func (e *scrubbedError) Unwrap() error {
	if e.err.Error() != e.msg {
		return nil
	}
	return e.err
}

// scrub returns err with every occurrence of the secrets (the password, the DSN)
// replaced by "[redacted]".
func scrub(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	return &scrubbedError{msg: msg, err: err}
}

// isDataError reports whether MySQL refused the values of a statement, an error that
// retrying the same rows cannot fix.
func isDataError(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1048, // column cannot be null
		1264, // out of range
		1265, // data truncated
		1292, // incorrect value (datetime)
		1366, // incorrect string value
		1406: // data too long
		return true
	}
	return false
}
