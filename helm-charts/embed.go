// Package helmcharts embeds the charts that the operator itself installs, so the binary works
// without the chart being copied into its image; --mysql-addon-chart can still point at a
// directory instead.
package helmcharts

import "embed"

// MySQLAddon holds the mysql-addon chart under the directory "mysql-addon". The all: prefix
// keeps templates/_helpers.tpl, which embed would otherwise skip for its leading underscore.
//
//go:embed all:mysql-addon
var MySQLAddon embed.FS

// AdmissionGuard is the admission guard (a ValidatingAdmissionPolicy and its binding) as the
// hoard chart ships it. The operator applies it at start when OLM installed it, since an OLM
// bundle cannot carry one (docs/design/0013-admission-guard.md).
//
//go:embed hoard/files/admission-guard.yaml
var AdmissionGuard []byte
