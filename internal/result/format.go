package result

import "fmt"

// FormatBytes renders a size the way restic and upstream Stash did: "512 B", "6.815 MiB".
func FormatBytes(n int64) string {
	const (
		kib = 1 << 10
		mib = 1 << 20
		gib = 1 << 30
		tib = 1 << 40
	)
	f := float64(n)
	switch {
	case n >= tib:
		return fmt.Sprintf("%.3f TiB", f/tib)
	case n >= gib:
		return fmt.Sprintf("%.3f GiB", f/gib)
	case n >= mib:
		return fmt.Sprintf("%.3f MiB", f/mib)
	case n >= kib:
		return fmt.Sprintf("%.3f KiB", f/kib)
	default:
		return fmt.Sprintf("%d B", n)
	}
}
