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
	"fmt"
	"os"
	"strconv"
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
}

// String never prints the password.
func (c Config) String() string {
	return fmt.Sprintf("mysql://%s@%s:%d/%s", c.User, c.Host, c.Port, c.DBName)
}

// ConfigFromEnv reads MYSQL_HOST, MYSQL_PORT (default 3306), MYSQL_DB_NAME, MYSQL_USER,
// MYSQL_PASSWORD and MYSQL_TLS.
func ConfigFromEnv() (Config, error) {
	c := Config{
		Host:     os.Getenv("MYSQL_HOST"),
		Port:     3306,
		DBName:   os.Getenv("MYSQL_DB_NAME"),
		User:     os.Getenv("MYSQL_USER"),
		Password: os.Getenv("MYSQL_PASSWORD"),
		TLS:      os.Getenv("MYSQL_TLS"),
	}
	if p := os.Getenv("MYSQL_PORT"); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return c, fmt.Errorf("MYSQL_PORT %q is not a port number (1-65535)", p)
		}
		c.Port = port
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
