package hook

import (
	"fmt"
	"strings"
	"text/template"
)

// render fills a template over the summary. A text without "{{" is returned as it is, so
// that a command with braces of its own (a shell's ${x}) needs no escaping; a template that
// does not parse or names a field the summary lacks is an error naming where it is.
func render(where, text string, sum Summary) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := template.New(where).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("template in %s: %w", where, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, sum); err != nil {
		return "", fmt.Errorf("template in %s: %w", where, err)
	}
	return b.String(), nil
}
