package appbinding

import "encoding/json"

// TaskRef is a Task name and params as a StashAddon parameter block gives them.
type TaskRef struct {
	Name   string  `json:"name"`
	Params []Param `json:"params,omitempty"`
}

// Param is a name and value.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type stashAddon struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Stash      struct {
		Addon struct {
			BackupTask  TaskRef `json:"backupTask"`
			RestoreTask TaskRef `json:"restoreTask"`
		} `json:"addon"`
	} `json:"stash"`
}

func unmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }
