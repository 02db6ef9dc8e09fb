// Package e2e holds the end-to-end tests of Hoard on a real cluster, driven with kubectl: the
// Stash MySQL backup and restore guide (mysql_test.go) and issue 10's fault suite
// (faults_test.go). Its tests carry the build tag e2e and run through `make e2e`
// (test/e2e/run.sh), which brings up a cluster and installs Hoard first.
package e2e
