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

// Package recorder persists EphemeralJobs and the pods they target into MySQL,
// so their history outlives the API server.
package recorder

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	// dialTimeout bounds establishing a connection.
	dialTimeout = 5 * time.Second
	// ioTimeout bounds each read and write on a connection, below the per-query context timeouts.
	ioTimeout = 30 * time.Second
)

// Config holds the MySQL connection settings, read from the MYSQL_* environment variables.
type Config struct {
	Host     string
	Port     int
	DBName   string
	User     string
	Password string
	// TLS is the go-sql-driver/mysql tls parameter: "", "true", "skip-verify" or "preferred".
	TLS string
	// TLSCAFile is a PEM file of the CA certificates that verify the server.
	// Setting it turns TLS on with verification, whatever TLS says.
	TLSCAFile string
}

// String never prints the password.
func (c Config) String() string {
	return fmt.Sprintf("mysql://%s@%s:%d/%s", c.User, c.Host, c.Port, c.DBName)
}

// GoString never prints the password either, so %#v is safe in logs.
func (c Config) GoString() string { return c.String() }

// mysqlConfig builds the driver configuration: TCP, UTC times parsed into time.Time and
// truncated to milliseconds (the DATETIME(3) columns), bounded dial and I/O, parameters
// interpolated by the driver (one round trip per statement), and TLS as configured.
// The pool is opened from it with mysql.NewConnector, so no DSN string is ever built
// for connecting; FormatDSN serves only to scrub errors.
func (c Config) mysqlConfig() (*mysql.Config, error) {
	mc := mysql.NewConfig()
	mc.User = c.User
	mc.Passwd = c.Password
	mc.Net = "tcp"
	mc.Addr = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	mc.DBName = c.DBName
	mc.ParseTime = true
	mc.Loc = time.UTC
	mc.Timeout = dialTimeout
	mc.ReadTimeout = ioTimeout
	mc.WriteTimeout = ioTimeout
	mc.InterpolateParams = true
	if err := mc.Apply(mysql.TimeTruncate(time.Millisecond)); err != nil {
		return nil, fmt.Errorf("configuring the MySQL client: %w", err)
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading MYSQL_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("MYSQL_TLS_CA_FILE %s holds no PEM certificate", c.TLSCAFile)
		}
		mc.TLS = &tls.Config{RootCAs: pool, ServerName: c.Host, MinVersion: tls.VersionTLS12}
		return mc, nil
	}
	switch c.TLS {
	case "", "false":
	case "true", "skip-verify", "preferred":
		mc.TLSConfig = c.TLS
	default:
		return nil, fmt.Errorf("MYSQL_TLS %q is not one of true, false, skip-verify, preferred", c.TLS)
	}
	return mc, nil
}

// ConfigFromEnv reads MYSQL_HOST, MYSQL_PORT (default 3306), MYSQL_DB_NAME, MYSQL_USER,
// MYSQL_PASSWORD, MYSQL_TLS and MYSQL_TLS_CA_FILE, and fails when MYSQL_HOST,
// MYSQL_DB_NAME or MYSQL_USER is unset.
func ConfigFromEnv() (Config, error) {
	c, err := ReadEnv()
	if err != nil {
		return c, err
	}
	var missing []string
	for _, kv := range []struct{ name, val string }{{"MYSQL_HOST", c.Host}, {"MYSQL_DB_NAME", c.DBName}, {"MYSQL_USER", c.User}} {
		if kv.val == "" {
			missing = append(missing, kv.name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("--meta-storage mysql needs %v set", missing)
	}
	return c, nil
}

// ReadEnv reads the same variables as ConfigFromEnv without requiring any, for
// callers that complete the settings from elsewhere (command-line flags).
func ReadEnv() (Config, error) {
	c := Config{
		Host:      os.Getenv("MYSQL_HOST"),
		Port:      3306,
		DBName:    os.Getenv("MYSQL_DB_NAME"),
		User:      os.Getenv("MYSQL_USER"),
		Password:  os.Getenv("MYSQL_PASSWORD"),
		TLS:       os.Getenv("MYSQL_TLS"),
		TLSCAFile: os.Getenv("MYSQL_TLS_CA_FILE"),
	}
	if p := os.Getenv("MYSQL_PORT"); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return c, fmt.Errorf("MYSQL_PORT %q is not a port number (1-65535)", p)
		}
		c.Port = port
	}
	return c, nil
}
