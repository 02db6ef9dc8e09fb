package addon

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/snaptag"
)

// latestFilter selects the snapshots "latest" is chosen from: the source host's dumps.
func latestFilter(source string) restic.Filter {
	return restic.Filter{Host: source, Paths: []string{"/" + DumpFileName}}
}

// LatestRequest says whose "latest" snapshot a restore wants.
type LatestRequest struct {
	// Host is the source host the candidates were listed for (for messages).
	Host string
	// Own is the restore's own target; zero when the restore did not name one.
	Own snaptag.Identity
	// Source, when set (the sourceTarget param), is the only target to consider.
	Source snaptag.Identity
}

// SelectLatest picks the snapshot a restore of "latest" loads among candidates, the source
// host's dumps. The rules, in order:
//
//  1. with a source target, the newest snapshot of that target, or an error;
//  2. the newest snapshot of the restore's own target, if the repository holds any;
//  3. otherwise, among the snapshots that carry an identity: the newest one if they all belong
//     to a single target, an error listing the targets if they belong to several;
//  4. if no candidate carries an identity (a repository written by upstream Stash), the
//     newest of them.
//
// It never picks another target's dump when it cannot tell which one is meant.
func SelectLatest(cands []restic.Snapshot, req LatestRequest) (*restic.Snapshot, error) {
	if len(cands) == 0 {
		return nil, fmt.Errorf("the repository has no snapshot of %s from host %q", DumpFileName, req.Host)
	}
	groups := map[snaptag.Identity][]restic.Snapshot{}
	var untagged []restic.Snapshot
	for _, s := range cands {
		if id, ok := snaptag.Of(s.Tags); ok {
			groups[id] = append(groups[id], s)
		} else {
			untagged = append(untagged, s)
		}
	}
	if !req.Source.IsZero() {
		if g := groups[req.Source]; len(g) > 0 {
			return newest(g), nil
		}
		return nil, fmt.Errorf("the repository has no snapshot of target %s from host %q; it holds %s", req.Source, req.Host, describeGroups(groups, untagged))
	}
	if g := groups[req.Own]; !req.Own.IsZero() && len(g) > 0 {
		return newest(g), nil
	}
	switch len(groups) {
	case 0:
		return newest(untagged), nil
	case 1:
		for _, g := range groups {
			return newest(g), nil
		}
	}
	own := "this restore names no target of its own"
	if !req.Own.IsZero() {
		own = "none of them is this restore's own target " + req.Own.String()
	}
	example := sortedIdentities(groups)[0]
	return nil, fmt.Errorf("the repository holds snapshots of %d targets from host %q and %s: %s. "+
		"Hoard does not guess which database to load: name the target with the Task param sourceTarget "+
		"(e.g. params: [{name: sourceTarget, value: %s/%s}]), use sourceHost when the targets back up under different aliases, "+
		"or restore a snapshot id",
		len(groups), req.Host, own, describeGroups(groups, untagged), example.Kind, example.Name)
}

// newest returns the most recent snapshot of a non-empty list.
func newest(snaps []restic.Snapshot) *restic.Snapshot {
	best := &snaps[0]
	for i := range snaps[1:] {
		if s := &snaps[i+1]; s.Time.After(best.Time) {
			best = s
		}
	}
	return best
}

func sortedIdentities(groups map[snaptag.Identity][]restic.Snapshot) []snaptag.Identity {
	ids := make([]snaptag.Identity, 0, len(groups))
	for id := range groups {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	return ids
}

// describeGroups lists each target with its snapshot count and newest time, then the
// snapshots without a target.
func describeGroups(groups map[snaptag.Identity][]restic.Snapshot, untagged []restic.Snapshot) string {
	var parts []string
	for _, id := range sortedIdentities(groups) {
		g := groups[id]
		parts = append(parts, fmt.Sprintf("%s (%s, newest %s)", id, plural(len(g), "snapshot"), newest(g).Time.UTC().Format(time.RFC3339)))
	}
	if len(untagged) > 0 {
		parts = append(parts, fmt.Sprintf("%s without a target identity (written before Hoard's tags, e.g. by upstream Stash; newest %s, restorable by id)",
			plural(len(untagged), "snapshot"), newest(untagged).Time.UTC().Format(time.RFC3339)))
	}
	if len(parts) == 0 {
		return "no snapshots"
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
