// Package e2e holds the end-to-end test of Hoard on a real cluster: the Stash MySQL backup and
// restore guide, driven with kubectl. Its tests carry the build tag e2e and run through
// `make e2e` (test/e2e/run.sh), which brings up a cluster and installs Hoard first.
package e2e
