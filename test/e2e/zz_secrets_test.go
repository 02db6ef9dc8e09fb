//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSecretsNotLeaked is issue 11's proof that nothing leaked: after the suites (go test
// runs a package's tests in the order of its files, and this file's zz_ prefix sorts it after
// every other suite's, so that a new suite's namespace is searched too), it searches every log, event, status and termination message the
// recorder saw (recorder_test.go) for each credential the suites used, in raw, URL-escaped and
// base64 form, and fails listing where one was found.
func TestSecretsNotLeaked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	recorded.collect(ctx, "")
	wheres, texts, failedReads := recorded.snapshot()

	counts := map[string]int{}
	size := 0
	for _, w := range wheres {
		counts[strings.Fields(w)[0]]++
		size += len(texts[w])
	}
	t.Logf("searching %d logs, %d events, %d statuses and %d termination messages (%d bytes; %d log reads found their pod gone)",
		counts["log"], counts["event"], counts["status"], counts["termination"], size, failedReads)
	// A search of nothing finds nothing: the operator's log, the Jobs' results and a Job's log
	// showing the REST credentials it used, scrubbed, must be there.
	var operatorLog, results, restURL bool
	for _, w := range wheres {
		operatorLog = operatorLog || strings.HasPrefix(w, "log of "+operatorNamespace+"/")
		results = results || (strings.HasPrefix(w, "termination message") && strings.Contains(texts[w], `"kind":"backup"`))
		restURL = restURL || (strings.HasPrefix(w, "log of ") && strings.Contains(texts[w], "://"+secrets.RestUser+":***@"))
	}
	if !operatorLog || !results || !restURL {
		t.Fatalf("the recorder saw no operator log (%t), no backup result (%t) or no Job log with the REST URL as %s:***@ (%t): the search would prove nothing",
			operatorLog, results, secrets.RestUser, restURL)
	}

	type secret struct{ name, value string }
	var search []secret
	for _, s := range []secret{
		{"database password", secrets.DB}, {"wrong database password", secrets.WrongDB},
		{"RESTIC_PASSWORD", secrets.Restic}, {"REST_SERVER_PASSWORD", secrets.Rest},
	} {
		for form, v := range map[string]string{
			"raw": s.value, "query-escaped": url.QueryEscape(s.value), "path-escaped": url.PathEscape(s.value),
			"base64": base64.StdEncoding.EncodeToString([]byte(s.value)), "base64 (URL)": base64.URLEncoding.EncodeToString([]byte(s.value)),
			"base64 (unpadded)": base64.RawStdEncoding.EncodeToString([]byte(s.value)), "base64 (URL, unpadded)": base64.RawURLEncoding.EncodeToString([]byte(s.value)),
		} {
			search = append(search, secret{s.name + ", " + form, v})
		}
	}
	basic := secrets.RestUser + ":" + secrets.Rest
	search = append(search, secret{"REST basic auth (base64)", base64.StdEncoding.EncodeToString([]byte(basic))})

	leaks := 0
	for _, w := range wheres {
		text := texts[w]
		for _, s := range search {
			i := strings.Index(text, s.value)
			if i < 0 {
				continue
			}
			leaks++
			from, to := max(0, i-120), min(len(text), i+len(s.value)+120)
			t.Errorf("%s found in %s:\n  …%s…", s.name, w, strings.ReplaceAll(text[from:to], s.value, "<"+s.name+">"))
		}
	}
	t.Logf("%d leaks; searched in %s", leaks, time.Since(start).Round(time.Millisecond))
}
