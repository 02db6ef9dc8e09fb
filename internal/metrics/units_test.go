package metrics

import "testing"

func TestParseBytes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    float64
		wantErr bool
	}{
		{name: "restic bytes", in: "512 B", want: 512},
		{name: "zero", in: "0 B", want: 0},
		{name: "KiB", in: "1.500 KiB", want: 1536},
		{name: "MiB as restic prints it", in: "6.815 MiB", want: 6.815 * (1 << 20)},
		{name: "GiB", in: "2.000 GiB", want: 2 << 30},
		{name: "TiB", in: "1 TiB", want: 1 << 40},
		{name: "no space", in: "6.815MiB", want: 6.815 * (1 << 20)},
		{name: "surrounding spaces", in: "  3 KiB ", want: 3072},
		{name: "lower case unit", in: "1 mib", want: 1 << 20},
		{name: "bare number is bytes", in: "42", want: 42},
		{name: "decimal unit", in: "1.5 MB", want: 1.5e6},
		{name: "leading dot", in: ".5 KiB", want: 512},
		{name: "empty", in: "", wantErr: true},
		{name: "unknown unit", in: "3 parsecs", wantErr: true},
		{name: "negative", in: "-1 MiB", wantErr: true},
		{name: "no number", in: "MiB", wantErr: true},
		{name: "two numbers", in: "1 2 MiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBytes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseBytes(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("ParseBytes(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    float64
		wantErr bool
	}{
		{name: "Go seconds", in: "20.1s", want: 20.1},
		{name: "Go minutes", in: "1m2.5s", want: 62.5},
		{name: "Go hours", in: "1h0m0s", want: 3600},
		{name: "Go milliseconds", in: "850ms", want: 0.85},
		{name: "bare seconds", in: "3.5", want: 3.5},
		{name: "clock mm:ss", in: "0:03", want: 3},
		{name: "clock h:mm:ss", in: "1:02:03", want: 3723},
		{name: "clock long minutes", in: "125:03", want: 7503},
		{name: "empty", in: "", wantErr: true},
		{name: "negative", in: "-3s", wantErr: true},
		{name: "garbage", in: "soon", wantErr: true},
		{name: "clock seconds out of range", in: "1:75", wantErr: true},
		{name: "clock one digit seconds", in: "1:5", wantErr: true},
		{name: "clock empty field", in: "1::05", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSeconds(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSeconds(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && (got-tt.want > 1e-9 || tt.want-got > 1e-9) {
				t.Errorf("ParseSeconds(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
