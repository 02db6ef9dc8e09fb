// A module of its own, so the project's `go build ./...` and `go test ./...` leave it alone.
module hoard.local/cluster/pause

go 1.24.0
