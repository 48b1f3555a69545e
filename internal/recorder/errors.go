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
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

const redacted = "[redacted]"

// scrubbedError is an error whose text had every secret removed. It unwraps to the
// original only when the text held no secret, so no caller can reach the secret
// through errors.Unwrap. When it did hold one, the error still answers what callers
// ask to classify it, without handing out its text: errors.Is is asked of the original
// (an answer of true or false carries no secret), and errors.As to a *mysql.MySQLError
// gives a copy of MySQL's error with its message scrubbed. So a row MySQL refuses for
// its values is still recognized as such (and dropped, not retried forever), and an
// answer from MySQL still counts as MySQL being up, whatever the password is.
type scrubbedError struct {
	msg     string
	err     error
	secrets []string
}

func (e *scrubbedError) Error() string { return e.msg }

// GoString keeps %#v from printing the original error and the secrets.
func (e *scrubbedError) GoString() string {
	return fmt.Sprintf("&recorder.scrubbedError{msg:%q}", e.msg)
}

func (e *scrubbedError) Unwrap() error {
	if e.err.Error() != e.msg {
		return nil
	}
	return e.err
}

// Is reports whether the original error is target.
func (e *scrubbedError) Is(target error) bool {
	return target != nil && errors.Is(e.err, target)
}

// As sets target, a **mysql.MySQLError, to a scrubbed copy of the MySQL error in the
// original, and reports whether there was one. It sets no other type of target.
func (e *scrubbedError) As(target any) bool {
	p, ok := target.(**mysql.MySQLError)
	if !ok {
		return false
	}
	var me *mysql.MySQLError
	if !errors.As(e.err, &me) {
		return false
	}
	scrubbed := *me
	scrubbed.Message = scrubText(me.Message, e.secrets)
	*p = &scrubbed
	return true
}

// scrub returns err with every occurrence of the secrets (the password, the DSN)
// replaced by "[redacted]".
func scrub(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: scrubText(err.Error(), secrets), err: err, secrets: secrets}
}

// scrubText returns msg with every occurrence of the secrets replaced by "[redacted]".
func scrubText(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	return msg
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
