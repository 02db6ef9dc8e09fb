package restic

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Key is one entry of `restic key list --json`: a password that opens the repository.
type Key struct {
	// Current is the key the listing process opened the repository with.
	Current  bool   `json:"current"`
	ID       string `json:"id"`
	UserName string `json:"userName"`
	HostName string `json:"hostName"`
	// Created is restic's text, e.g. "2026-12-02 06:07:30" (the Job's local time, UTC).
	Created string `json:"created"`
}

// KeyList lists the repository's keys.
func (r *Restic) KeyList(ctx context.Context) ([]Key, error) {
	var out bytes.Buffer
	if err := r.run(ctx, call{command: "key", json: true, args: []string{"list"}, stdout: &out}); err != nil {
		return nil, err
	}
	var keys []Key
	if err := decodeJSON("key list", out.Bytes(), &keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// KeyAdd adds a key for the password in the file newPasswordFile (restic reads it, so it
// never reaches argv or the environment).
func (r *Restic) KeyAdd(ctx context.Context, newPasswordFile string) error {
	return r.run(ctx, call{command: "key", args: []string{"add"}, flags: []string{"--new-password-file", newPasswordFile}})
}

// KeyRemove removes the key id. restic refuses to remove the key it opened the repository
// with.
func (r *Restic) KeyRemove(ctx context.Context, id string) error {
	return r.run(ctx, call{command: "key", args: []string{"remove", id}})
}

// WithPassword returns a runner for the same repository that opens it with password, which
// is scrubbed from everything it prints like the first one.
func (r *Restic) WithPassword(password string) *Restic {
	setup := *r.setup
	setup.Env = maps.Clone(r.setup.Env)
	setup.Env[KeyResticPassword] = password
	setup.Secrets = append(slices.Clone(r.setup.Secrets), password)
	env := make([]string, 0, len(r.env))
	for _, kv := range r.env {
		if !strings.HasPrefix(kv, KeyResticPassword+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, KeyResticPassword+"="+password)
	c := *r
	c.setup, c.env, c.scrub = &setup, env, r.scrub.With(password)
	return &c
}

// CurrentKey is the id of the key in keys the lister opened the repository with.
func CurrentKey(keys []Key) (string, error) {
	for _, k := range keys {
		if k.Current {
			return k.ID, nil
		}
	}
	return "", fmt.Errorf("restic key list marks no key as current")
}

// RepoConfig is what `restic cat config` says about the repository.
type RepoConfig struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
}

// CatConfig reads the repository's config without a lock.
func (r *Restic) CatConfig(ctx context.Context) (*RepoConfig, error) {
	var out bytes.Buffer
	if err := r.run(ctx, call{command: "cat", flags: []string{"--no-lock"}, args: []string{"config"}, stdout: &out}); err != nil {
		return nil, err
	}
	c := &RepoConfig{}
	if err := decodeJSON("cat config", out.Bytes(), c); err != nil {
		return nil, err
	}
	return c, nil
}

// MigrateUpgradeRepoV2 upgrades a format 1 repository to format 2 (compression).
func (r *Restic) MigrateUpgradeRepoV2(ctx context.Context) error {
	return r.run(ctx, call{command: "migrate", args: []string{"upgrade_repo_v2"}})
}

// PruneRepackUncompressed prunes the repository and rewrites every uncompressed blob
// compressed (format 2 only). Like any prune it writes the new packs and index before it
// deletes what they replace, so an interruption leaves every snapshot readable.
func (r *Restic) PruneRepackUncompressed(ctx context.Context) error {
	return r.run(ctx, call{command: "prune", flags: []string{"--repack-uncompressed"}})
}
