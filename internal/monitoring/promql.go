package monitoring

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// keyword is true for the PromQL keywords and modifiers: identifiers that are not metric
// names. Functions and aggregators are told apart by the "(" after them.
func keyword(word string) bool {
	switch strings.ToLower(word) {
	case "and", "or", "unless", "bool", "offset", "inf", "nan":
		return true
	}
	return takesLabelList(word)
}

// takesLabelList is true for the modifiers followed by a list of label names.
func takesLabelList(word string) bool {
	switch strings.ToLower(word) {
	case "by", "without", "on", "ignoring", "group_left", "group_right":
		return true
	}
	return false
}

// MetricNames returns the metric names a PromQL expression selects, sorted and without
// repeats. It knows just enough PromQL to skip what is not a selector: strings, label
// matchers in braces, ranges in brackets, label lists after by/on/..., function names and
// keywords. It fails on unbalanced brackets or an unterminated string.
func MetricNames(expr string) ([]string, error) {
	seen := map[string]bool{}
	rs := []rune(expr)
	depth := map[rune]int{}
	closing := map[rune]rune{'}': '{', ']': '[', ')': '('}
	labelList := false // the next "(" opens a list of label names
	inLabels := 0      // the parenthesis depth of the label list being skipped, 0 when none
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '"' || r == '\'' || r == '`':
			j := i + 1
			for j < len(rs) && rs[j] != r {
				if rs[j] == '\\' && r != '`' {
					j++
				}
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unterminated string in %q", expr)
			}
			i = j
		case r == '#':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
		case r == '{' || r == '[' || r == '(':
			depth[r]++
			if r == '(' && labelList {
				inLabels = depth['(']
			}
			labelList = false
		case r == '}' || r == ']' || r == ')':
			open := closing[r]
			if depth[open] == 0 {
				return nil, fmt.Errorf("unbalanced %q in %q", r, expr)
			}
			if r == ')' && inLabels == depth['('] {
				inLabels = 0
			}
			depth[open]--
		case unicode.IsLetter(r) || r == '_' || r == ':':
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == ':') {
				j++
			}
			word := string(rs[i:j])
			i = j - 1
			if depth['{'] > 0 || depth['['] > 0 || inLabels > 0 {
				continue // a label name, a matcher's value or a duration
			}
			if takesLabelList(word) {
				labelList = true
			}
			if keyword(word) {
				continue
			}
			k := j
			for k < len(rs) && unicode.IsSpace(rs[k]) {
				k++
			}
			if k < len(rs) && rs[k] == '(' {
				continue // a function or an aggregator
			}
			if n := nextWord(rs[k:]); n == "by" || n == "without" {
				continue // an aggregator with its grouping first: sum by (a) (x)
			}
			seen[word] = true
		case unicode.IsDigit(r) || r == '.':
			// A number, possibly with a duration unit or an exponent ("5m", "1e9").
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '.') {
				j++
			}
			i = j - 1
		}
	}
	for open, n := range depth {
		if n != 0 {
			return nil, fmt.Errorf("unbalanced %q in %q", open, expr)
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// nextWord returns the identifier at the start of rs, lower-cased.
func nextWord(rs []rune) string {
	j := 0
	for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == ':') {
		j++
	}
	return strings.ToLower(string(rs[:j]))
}
