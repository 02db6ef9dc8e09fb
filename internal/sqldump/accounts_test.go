package sqldump

import "testing"

func TestIsAccountStatement(t *testing.T) {
	for text, want := range map[string]bool{
		"CREATE USER 'a'@'%' IDENTIFIED BY PASSWORD '*AB'":    true,
		"create or replace user `a`@`%`":                      true,
		"/*!80001 CREATE ROLE r */":                           true,
		"GRANT SELECT ON *.* TO 'a'@'%'":                      true,
		"REVOKE ALL PRIVILEGES ON *.* FROM a":                 true,
		"ALTER USER a IDENTIFIED BY 'x'":                      true,
		"RENAME USER a TO b":                                  true,
		"DROP USER IF EXISTS a":                               true,
		"SET PASSWORD FOR a = PASSWORD('x')":                  true,
		"SET DEFAULT ROLE r FOR a":                            true,
		"/*!40101 FLUSH PRIVILEGES */":                        true,
		"FLUSH PRIVILEGES":                                    true,
		"FLUSH TABLES":                                        false,
		"CREATE TABLE user (id INT)":                          false,
		"INSERT INTO grants VALUES (1)":                       false,
		"SET NAMES utf8mb4":                                   false,
		"ALTER TABLE t ADD KEY k (a)":                         false,
		"-- GRANT in a comment\nSELECT 1":                     false,
		"CREATE DEFINER=`a`@`%` PROCEDURE p() SELECT 1":       false,
		"/*!50013 DEFINER=`root`@`localhost` SQL SECURITY */": false,
	} {
		if got := IsAccountStatement([]byte(text)); got != want {
			t.Errorf("IsAccountStatement(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestDatabaseStatement(t *testing.T) {
	for text, want := range map[string]string{
		"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `mysql` /*!40100 DEFAULT CHARACTER SET utf8mb4 */": "mysql",
		"/*!40000 DROP DATABASE IF EXISTS `mysql`*/":                                                 "mysql",
		"create schema `odd``db`":      "odd`db",
		"DROP DATABASE app":            "app",
		"CREATE TABLE mysql.t (a INT)": "",
		"USE mysql":                    "",
	} {
		got, ok := DatabaseStatement([]byte(text))
		if got != want || ok != (want != "") {
			t.Errorf("DatabaseStatement(%q) = %q, %v, want %q", text, got, ok, want)
		}
	}
}
