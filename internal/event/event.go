// Package event is the catalogue of Kubernetes Events Hoard records: each reason and message
// format is declared once, so users see the same wording wherever a transition happens.
package event

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
)

// Event is one kind of Event: its type, reason and message format.
type Event struct {
	Type    string
	Reason  string
	Message string
}

// Emit records the event on obj with args filled into the message format. Messages must never
// carry secrets: callers pass names and reasons, not credentials.
func (e Event) Emit(r record.EventRecorder, obj runtime.Object, args ...any) {
	if r == nil {
		return
	}
	r.Event(obj, e.Type, e.Reason, fmt.Sprintf(e.Message, args...))
}

// RecorderFor is the event recorder of the controller named name (as its controller is
// Named): every Hoard event's source is "hoard-<name>", so `kubectl get events` tells which
// controller recorded it.
func RecorderFor(mgr interface {
	GetEventRecorderFor(name string) record.EventRecorder
}, name string) record.EventRecorder {
	return mgr.GetEventRecorderFor("hoard-" + name)
}

// maxMessage keeps an event's message well within what the API server stores.
const maxMessage = 1000

// Shorten cuts a long message (a hook's output) in its middle to maxMessage bytes.
func Shorten(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	half := (maxMessage - len(" … ")) / 2
	return strings.ToValidUTF8(msg[:half]+" … "+msg[len(msg)-half:], "")
}

// BackupConfiguration events.
var (
	CronJobCreated  = Event{corev1.EventTypeNormal, "CronJobCreated", "CronJob %s triggers backups on schedule %q"}
	CronJobUpdated  = Event{corev1.EventTypeNormal, "CronJobUpdated", "CronJob %s updated: schedule %q, suspended %t"}
	BackupPaused    = Event{corev1.EventTypeNormal, "BackupPaused", "backups paused: no new BackupSessions until spec.paused is false"}
	BackupResumed   = Event{corev1.EventTypeNormal, "BackupResumed", "backups resumed"}
	InvalidSpec     = Event{corev1.EventTypeWarning, "InvalidSpec", "%s"}
	DependencyError = Event{corev1.EventTypeWarning, "DependencyNotReady", "%s"}
)

// Events of both session kinds.
var (
	SessionWaiting = Event{corev1.EventTypeNormal, "WaitingForRepository", "%s"}
)

// Hook events, on the session whose hook ran; the message is result.Hook.Describe (scrubbed).
var (
	HookSucceeded = Event{corev1.EventTypeNormal, "HookSucceeded", "%s"}
	HookFailed    = Event{corev1.EventTypeWarning, "HookFailed", "%s"}
)

// BackupSession events.
var (
	BackupSessionStarted   = Event{corev1.EventTypeNormal, "BackupSessionStarted", "backup Job %s started"}
	BackupSessionSucceeded = Event{corev1.EventTypeNormal, "BackupSessionSucceeded", "backup succeeded in %s: snapshot %s"}
	BackupSessionFailed    = Event{corev1.EventTypeWarning, "BackupSessionFailed", "backup failed: %s"}
	BackupSessionSkipped   = Event{corev1.EventTypeNormal, "BackupSessionSkipped", "backup skipped: %s"}
	RetentionApplied       = Event{corev1.EventTypeNormal, "RetentionPolicyApplied", "retention policy %q applied: %d snapshot(s) removed"}
	RepositoryInitialized  = Event{corev1.EventTypeNormal, "RepositoryInitialized", "restic repository %s initialised"}
)

// RestoreSession events.
var (
	RestoreSessionStarted   = Event{corev1.EventTypeNormal, "RestoreSessionStarted", "restore Job %s started"}
	RestoreSessionSucceeded = Event{corev1.EventTypeNormal, "RestoreSessionSucceeded", "restore succeeded in %s: %s"}
	RestoreSessionFailed    = Event{corev1.EventTypeWarning, "RestoreSessionFailed", "restore failed: %s"}
)

// BackupVerification events.
var (
	VerificationStarted = Event{corev1.EventTypeNormal, "VerificationStarted", "verifying snapshot %s with RestoreSession %s"}
	VerificationPassed  = Event{corev1.EventTypeNormal, "VerificationPassed", "snapshot %s verified by RestoreSession %s"}
	VerificationFailed  = Event{corev1.EventTypeWarning, "VerificationFailed", "snapshot %s did not verify (RestoreSession %s): %s"}
)

// Repository events.
var (
	RepositoryWipeStarted   = Event{corev1.EventTypeNormal, "WipeOutStarted", "deleting the repository's data with Job %s"}
	RepositoryWipeSucceeded = Event{corev1.EventTypeNormal, "WipeOutSucceeded", "the repository's data was deleted"}
	RepositoryWipeFailed    = Event{corev1.EventTypeWarning, "WipeOutFailed", "deleting the repository's data failed: %s"}
	RepositoryWipeRefused   = Event{corev1.EventTypeWarning, "WipeOutRefused", "%s"}
	RepositoryWipeWaiting   = Event{corev1.EventTypeNormal, "WaitingForRepository", "%s"}
)

// Snapshot list events, on the Repository (a deleted Snapshot may be gone by the time an
// event on it is read).
var (
	SnapshotsJobStarted = Event{corev1.EventTypeNormal, "SnapshotsJobStarted", "Job %s forgets %d snapshot(s) and syncs the snapshot list"}
	SnapshotsSynced     = Event{corev1.EventTypeNormal, "SnapshotsSynced", "snapshot list synced: %d added, %d forgotten, %d gone"}
	SnapshotsJobFailed  = Event{corev1.EventTypeWarning, "SnapshotsJobFailed", "forgetting or syncing snapshots failed: %s"}
)

// AppBinding events of auto-backup (an AppBinding has no status, so these are what a user
// sees; the same text is logged).
var (
	AutoBackupCreated = Event{corev1.EventTypeNormal, "AutoBackupCreated", "%s %s created from BackupBlueprint %s"}
	AutoBackupUpdated = Event{corev1.EventTypeNormal, "AutoBackupUpdated", "%s %s updated from BackupBlueprint %s"}
	AutoBackupRemoved = Event{corev1.EventTypeNormal, "AutoBackupRemoved", "BackupConfiguration %s deleted: no BackupBlueprint annotation asks for it any more; Repository %s and its snapshots are kept"}
	AutoBackupRefused = Event{corev1.EventTypeWarning, "AutoBackupRefused", "%s"}
	BlueprintNotFound = Event{corev1.EventTypeWarning, "BlueprintNotFound", "BackupBlueprint %s does not exist: nothing is made for it (what it made before is kept)"}
	BlueprintInvalid  = Event{corev1.EventTypeWarning, "BlueprintInvalid", "%s"}
)

// RepositoryOperation events.
var (
	OperationWaiting   = Event{corev1.EventTypeNormal, "WaitingForRepository", "%s"}
	OperationStarted   = Event{corev1.EventTypeNormal, "OperationStarted", "%s started with Job %s"}
	OperationSucceeded = Event{corev1.EventTypeNormal, "OperationSucceeded", "%s"}
	OperationFailed    = Event{corev1.EventTypeWarning, "OperationFailed", "%s"}
)
