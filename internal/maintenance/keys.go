package maintenance

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hoard-operator/hoard/internal/restic"
)

// Outcome is what an operation's Job reports in its termination message (JSON): the one-line
// message and, for the key operations, the keys.
type Outcome struct {
	Message string `json:"message,omitempty"`
	// Error says why the operation failed, scrubbed.
	Error string       `json:"error,omitempty"`
	Keys  []restic.Key `json:"keys,omitempty"`
	// KeyID is the key KeyAdd added; CurrentKeyID the key the storage Secret's password opened.
	KeyID        string `json:"keyID,omitempty"`
	CurrentKeyID string `json:"currentKeyID,omitempty"`
}

func short(id string) string { return id[:min(8, len(id))] }

// KeyList lists the keys.
func KeyList(ctx context.Context, r *restic.Restic) (Outcome, error) {
	keys, err := r.KeyList(ctx)
	if err != nil {
		return Outcome{}, fmt.Errorf("restic key list failed: %w", err)
	}
	cur, err := restic.CurrentKey(keys)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Message: fmt.Sprintf("%d key(s); the storage Secret's password opens key %s", len(keys), short(cur)), Keys: keys, CurrentKeyID: cur}, nil
}

// KeyAdd adds a key for the password in newPasswordFile, then opens the repository with that
// password, byte for byte as a storage Secret would hold it, and lists the keys with it: the
// key it opened is the new one. Only then does it report success.
func KeyAdd(ctx context.Context, r *restic.Restic, newPasswordFile string) (Outcome, error) {
	pw, err := os.ReadFile(newPasswordFile)
	if err != nil {
		return Outcome{}, fmt.Errorf("failed to read the new password: %w", err)
	}
	if len(pw) == 0 {
		return Outcome{}, fmt.Errorf("the new password is empty: the Secret's RESTIC_PASSWORD must hold it")
	}
	before, err := r.KeyList(ctx)
	if err != nil {
		return Outcome{}, fmt.Errorf("restic key list failed before adding the key: %w", err)
	}
	old, err := restic.CurrentKey(before)
	if err != nil {
		return Outcome{}, err
	}
	if err := r.KeyAdd(ctx, newPasswordFile); err != nil {
		return Outcome{}, fmt.Errorf("restic key add failed: %w; the repository's keys are unchanged", err)
	}
	after, err := r.WithPassword(string(pw)).KeyList(ctx)
	if err != nil {
		return Outcome{CurrentKeyID: old}, fmt.Errorf("a key was added but the new password does not open the repository (%w); the storage Secret's password (key %s) still does: remove the new key with KeyRemove", err, short(old))
	}
	// The new key is the one that was not there before (restic marks as current whichever
	// key the password opened, which for a password the repository had already may be an
	// older one).
	var added string
	for _, k := range after {
		if !slices.ContainsFunc(before, func(b restic.Key) bool { return b.ID == k.ID }) {
			added = k.ID
		}
	}
	if added == "" {
		return Outcome{CurrentKeyID: old}, fmt.Errorf("restic key add reported success but the key list shows no new key")
	}
	for i := range after {
		after[i].Current = after[i].ID == old
	}
	return Outcome{
		Message: fmt.Sprintf("added key %s and opened the repository with its password; the storage Secret's password opens key %s", short(added), short(old)),
		Keys:    after, KeyID: added, CurrentKeyID: old,
	}, nil
}

// KeyRemove removes the key whose id starts with id. It refuses the key the storage Secret's
// password opens (restic would too), so that the repository always keeps a key the Secret
// opens.
func KeyRemove(ctx context.Context, r *restic.Restic, id string) (Outcome, error) {
	keys, err := r.KeyList(ctx)
	if err != nil {
		return Outcome{}, fmt.Errorf("restic key list failed: %w", err)
	}
	cur, err := restic.CurrentKey(keys)
	if err != nil {
		return Outcome{}, err
	}
	var match []restic.Key
	for _, k := range keys {
		if strings.HasPrefix(k.ID, id) {
			match = append(match, k)
		}
	}
	switch {
	case len(match) == 0:
		return Outcome{CurrentKeyID: cur, Keys: keys}, fmt.Errorf("the repository has no key %s; KeyList lists them", id)
	case len(match) > 1:
		return Outcome{CurrentKeyID: cur, Keys: keys}, fmt.Errorf("%d keys start with %s: give more of the id", len(match), id)
	case match[0].ID == cur:
		return Outcome{CurrentKeyID: cur, Keys: keys}, fmt.Errorf("key %s is the one the storage Secret's password opens: it cannot be removed; change the Secret's password first (kubectl hoard key rotate)", short(cur))
	}
	if err := r.KeyRemove(ctx, match[0].ID); err != nil {
		return Outcome{CurrentKeyID: cur}, fmt.Errorf("restic key remove %s failed: %w", short(match[0].ID), err)
	}
	left := slices.DeleteFunc(keys, func(k restic.Key) bool { return k.ID == match[0].ID })
	return Outcome{
		Message: fmt.Sprintf("removed key %s; the storage Secret's password opens key %s", short(match[0].ID), short(cur)),
		Keys:    left, CurrentKeyID: cur,
	}, nil
}
