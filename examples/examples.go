// Package examples holds the example schemas that "schemaproxy demo"
// registers, embedded so the demo runs from any directory. The files
// themselves, under schemas/, are the reference: "schemaproxy check" and
// "schemaproxy register" read them like any other directory of schemas.
package examples

import "embed"

// Schemas holds schemas/*.avsc, at paths like "schemas/memory.created.avsc".
//
//go:embed schemas/*.avsc
var Schemas embed.FS
