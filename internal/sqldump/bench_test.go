package sqldump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchDump is an INSERT-heavy dump like the bench schema's: rows of ~1 KiB of text and hex.
func benchDump(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE `t` (`id` int NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB;\n")
	hex := strings.Repeat("0123456789ABCDEF", 37)
	for i := 0; i < rows; i++ {
		if i%1000 == 0 {
			if i > 0 {
				b.WriteString(";\n")
			}
			b.WriteString("INSERT INTO `t` VALUES\n")
		} else {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "(%d,'5d41402abc4b2a76b9719d911017c592','%s it''s',%d,0x%s)", i, strings.Repeat("lorem ipsum ", 30), i%1000, hex)
	}
	b.WriteString(";\n")
	return b.Bytes()
}

// benchSplit splits the bench dump and hands each statement to fn.
func benchSplit(b *testing.B, fn func(text []byte)) {
	dump := benchDump(20000)
	b.SetBytes(int64(len(dump)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sp := NewSplitter(bytes.NewReader(dump))
		for {
			st, err := sp.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			fn(st.Text)
		}
	}
}

func BenchmarkSplitClassify(b *testing.B) { benchSplit(b, func(text []byte) { Classify(text) }) }

func BenchmarkSplit(b *testing.B) { benchSplit(b, func([]byte) {}) }

func BenchmarkSplitCountInsert(b *testing.B) {
	benchSplit(b, func(text []byte) { CountInsert(text) })
}

// BenchmarkSplitSumInsert is BenchmarkSplitCountInsert with the rows' checksums (the backup
// path's counter since design 0041): the difference is their cost.
func BenchmarkSplitSumInsert(b *testing.B) {
	benchSplit(b, func(text []byte) { SumInsert(text) })
}
