// Package jobspec turns a Stash Task, its Functions and the session that runs them into a
// Kubernetes Job: it computes the implicit variables, substitutes `${VAR}` and
// `${VAR:=default}` placeholders, and assembles containers, volumes and security settings.
// It is pure: it reads no cluster state, so golden-file tests pin its output.
package jobspec

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// UnresolvedError lists placeholders that have neither a value nor a default.
type UnresolvedError struct {
	Names []string
	Where string
}

func (e *UnresolvedError) Error() string {
	return fmt.Sprintf("%s: no value for placeholder(s) %s (set them as task params)", e.Where, "${"+strings.Join(e.Names, "}, ${")+"}")
}

// Substitute replaces `${NAME}`, `${NAME:=default}` and `${NAME:=}` in s. A `$` not followed
// by `{` is left alone, as are unterminated placeholders, so ordinary shell text survives.
// Names without a value and without a default are returned in missing.
func Substitute(s string, vars map[string]string) (out string, missing []string) {
	return substitute(s, vars, false)
}

// substitute is the one placeholder rule. With keepUnknown, a placeholder whose name has no
// value is left as written, default and all, for a later stage to fill.
func substitute(s string, vars map[string]string, keepUnknown bool) (out string, missing []string) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":=")
		if v, ok := vars[name]; ok {
			b.WriteString(v)
		} else if keepUnknown {
			b.WriteString(s[i : i+end+1])
		} else if hasDef {
			b.WriteString(def)
		} else {
			missing = append(missing, name)
			b.WriteString(s[i : i+end+1])
		}
		s = s[i+end+1:]
	}
	return b.String(), missing
}

// substituteObject substitutes placeholders in every string of v (a JSON-serialisable
// value) and stores the result back into v. where names v in error messages.
func substituteObject(v any, vars map[string]string, where string) error {
	missing := map[string]bool{}
	err := transformStrings(v, func(s string) string {
		out, m := Substitute(s, vars)
		for _, name := range m {
			missing[name] = true
		}
		return out
	}, where)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, n)
		}
		sort.Strings(names)
		return &UnresolvedError{Names: names, Where: where}
	}
	return nil
}

// transformStrings applies f to every string of v (a JSON-serialisable value) and stores the
// result back into v. where names v in error messages.
func transformStrings(v any, f func(string) string, where string) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", where, err)
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return fmt.Errorf("failed to decode %s: %w", where, err)
	}
	generic = walkStrings(generic, f)
	raw, err = json.Marshal(generic)
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", where, err)
	}
	// Decode into a zeroed value so fields emptied by substitution do not keep old data.
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s after substitution is invalid: %w", where, err)
	}
	return nil
}

func walkStrings(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case map[string]any:
		for k, e := range x {
			x[k] = walkStrings(e, f)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = walkStrings(e, f)
		}
		return x
	default:
		return v
	}
}
