package sqldump

// SystemSchema is the server's own schema: its accounts (grant tables) and other server state.
const SystemSchema = "mysql"

// accountVerbs start the statements that create, change or remove accounts and privileges
// (mariadb-dump --system=users, mysqlpump, hand-written dumps).
var accountVerbs = [][]string{
	{"CREATE", "USER"}, {"CREATE", "ROLE"}, {"CREATE", "OR", "REPLACE", "USER"}, {"CREATE", "OR", "REPLACE", "ROLE"},
	{"DROP", "USER"}, {"DROP", "ROLE"}, {"ALTER", "USER"}, {"RENAME", "USER"},
	{"GRANT"}, {"REVOKE"}, {"SET", "PASSWORD"}, {"SET", "DEFAULT", "ROLE"}, {"FLUSH", "PRIVILEGES"},
}

// IsAccountStatement tells whether a statement creates, changes or removes accounts or
// privileges, or reloads them from the grant tables.
func IsAccountStatement(text []byte) bool {
	toks := firstTokens(text, 4)
	for _, verb := range accountVerbs {
		if len(toks) < len(verb) {
			continue
		}
		match := true
		for i, w := range verb {
			if !is(text, toks[i], w) {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// DatabaseStatement returns the database a CREATE or DROP DATABASE (or SCHEMA) statement
// names; ok is false for any other statement.
func DatabaseStatement(text []byte) (db string, ok bool) {
	toks := firstTokens(text, 8)
	w := func(i int, word string) bool { return i < len(toks) && is(text, toks[i], word) }
	if !w(0, "CREATE") && !w(0, "DROP") || !w(1, "DATABASE") && !w(1, "SCHEMA") {
		return "", false
	}
	i := 2
	switch {
	case w(2, "IF") && w(3, "NOT") && w(4, "EXISTS"):
		i = 5
	case w(2, "IF") && w(3, "EXISTS"):
		i = 4
	}
	if i >= len(toks) {
		return "", false
	}
	return identValue(text, toks[i])
}

// firstTokens returns up to n of a statement's first tokens.
func firstTokens(text []byte, n int) []token {
	l := &lexer{text: text}
	var toks []token
	for len(toks) < n {
		t, ok := l.next()
		if !ok {
			break
		}
		toks = append(toks, t)
	}
	return toks
}
