package manager

import (
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
)

func cacheOptions(sync *time.Duration) cache.Options {
	return cache.Options{SyncPeriod: sync}
}
