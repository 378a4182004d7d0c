package compat

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hamba/avro/v2"
)

// Explain lists, in plain words, why reader cannot read data written with
// writer; readerIsNew says which of the two is the new schema, so that
// changes read from old to new whichever side reads. It follows the Avro
// resolution rules as hamba/avro applies them (names compared without
// namespace, reader aliases honoured, int->long->float->double and
// string<->bytes promoted, enum defaults catch unknown symbols) and
// reports every problem it finds, in schema order. It returns nil when it
// finds none.
func Explain(reader, writer avro.Schema, readerIsNew bool) []string {
	e := &explainer{
		readerIsNew: readerIsNew,
		sc:          avro.NewSchemaCompatibility(),
		active:      make(map[pairKey]bool),
	}
	e.match(reader, writer, nil)
	return e.out
}

// stepKind is how a path goes one level down.
type stepKind uint8

const (
	stepField  stepKind = iota // into a record field
	stepItems                  // into an array's items
	stepValues                 // into a map's values
)

type step struct {
	kind  stepKind
	field string
}

type pairKey struct{ reader, writer [32]byte }

type explainer struct {
	readerIsNew bool
	sc          *avro.SchemaCompatibility // yes/no answers for union branches
	active      map[pairKey]bool          // named pairs being walked: recursive types stop here
	out         []string
}

func (e *explainer) add(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !slices.Contains(e.out, msg) {
		e.out = append(e.out, msg)
	}
}

func (e *explainer) compatible(reader, writer avro.Schema) bool {
	return e.sc.Compatible(reader, writer) == nil
}

// oldNew orders a reader and a writer as old and new.
func (e *explainer) oldNew(reader, writer avro.Schema) (avro.Schema, avro.Schema) {
	if e.readerIsNew {
		return writer, reader
	}
	return reader, writer
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func (e *explainer) match(reader, writer avro.Schema, path []step) {
	reader, writer = deref(reader), deref(writer)
	if _, named := reader.(avro.NamedSchema); named {
		key := pairKey{reader.Fingerprint(), writer.Fingerprint()}
		if e.active[key] {
			return // a recursive type: this pair is already being explained further up
		}
		e.active[key] = true
		defer delete(e.active, key)
	}
	rt, wt := reader.Type(), writer.Type()
	if rt != wt {
		switch {
		case wt == avro.Union:
			e.writerUnion(reader, writer.(*avro.UnionSchema), path)
		case rt == avro.Union:
			e.readerUnion(reader.(*avro.UnionSchema), writer, path)
		case promotable(wt, rt):
		default:
			e.typeChanged(reader, writer, path)
		}
		return
	}
	switch rt {
	case avro.Array:
		e.match(reader.(*avro.ArraySchema).Items(), writer.(*avro.ArraySchema).Items(), appendStep(path, step{kind: stepItems}))
	case avro.Map:
		e.match(reader.(*avro.MapSchema).Values(), writer.(*avro.MapSchema).Values(), appendStep(path, step{kind: stepValues}))
	case avro.Fixed:
		r, w := reader.(*avro.FixedSchema), writer.(*avro.FixedSchema)
		if e.renamed("fixed", r, w, path) {
			return
		}
		if r.Size() != w.Size() {
			o, n := e.oldNew(r, w)
			e.add("%s changed size from %d to %d bytes", subject(path), o.(*avro.FixedSchema).Size(), n.(*avro.FixedSchema).Size())
		}
	case avro.Enum:
		r, w := reader.(*avro.EnumSchema), writer.(*avro.EnumSchema)
		if e.renamed("enum", r, w, path) || r.HasDefault() {
			return
		}
		for _, sym := range w.Symbols() {
			if slices.Contains(r.Symbols(), sym) {
				continue
			}
			if e.readerIsNew {
				e.add("enum symbol %s removed%s (old data may hold it; an enum default in the new schema would cover it)", sym, from(path))
			} else {
				e.add("enum symbol %s added%s (readers of the old schema do not know it and the old enum has no default)", sym, to(path))
			}
		}
	case avro.Record:
		r, w := reader.(*avro.RecordSchema), writer.(*avro.RecordSchema)
		if e.renamed("record", r, w, path) {
			return
		}
		for _, rf := range r.Fields() {
			fpath := appendStep(path, step{kind: stepField, field: rf.Name()})
			wf := writerField(w, rf)
			if wf == nil {
				if rf.HasDefault() {
					continue
				}
				if e.readerIsNew {
					e.add("%s added without a default (old data has no value for it)", subject(fpath))
				} else {
					e.add("%s removed without a default (readers of the old schema need a value for it)", subject(fpath))
				}
				continue
			}
			e.match(rf.Type(), wf.Type(), fpath)
		}
	case avro.Union:
		r := reader.(*avro.UnionSchema)
		for _, wb := range writer.(*avro.UnionSchema).Types() {
			if e.readerAccepts(r, wb) {
				continue
			}
			if rb := sameKind(r, wb); rb != nil {
				e.match(rb, wb, path)
				continue
			}
			if e.readerIsNew {
				e.add("union branch %s removed%s (old data may hold it)", typeName(wb), from(path))
			} else {
				e.add("union branch %s added%s (readers of the old schema cannot read it)", typeName(wb), to(path))
			}
		}
	}
}

// readerAccepts reports whether some branch of r reads data written as w.
func (e *explainer) readerAccepts(r *avro.UnionSchema, w avro.Schema) bool {
	for _, rb := range r.Types() {
		if e.compatible(rb, w) {
			return true
		}
	}
	return false
}

// writerUnion explains a union written and a single type read.
func (e *explainer) writerUnion(reader avro.Schema, writer *avro.UnionSchema, path []step) {
	var failing []avro.Schema
	for _, wb := range writer.Types() {
		if e.compatible(reader, wb) {
			continue
		}
		if deref(wb).Type() == reader.Type() {
			e.match(reader, wb, path) // the same kind of type changed inside: say how
			continue
		}
		failing = append(failing, wb)
	}
	if len(failing) == 0 {
		return
	}
	if len(failing) == 1 && failing[0].Type() == avro.Null {
		if e.readerIsNew {
			e.add("%s is no longer nullable (old data may hold null)", subject(path))
		} else {
			e.add("%s became nullable (readers of the old schema cannot read null)", subject(path))
		}
		return
	}
	o, n := e.oldNew(reader, writer)
	if e.readerIsNew {
		e.add("%s changed type from %s to %s (old data holding %s cannot be read)", subject(path), typeName(o), typeName(n), typeNames(failing))
	} else {
		e.add("%s changed type from %s to %s (readers of the old schema cannot read %s)", subject(path), typeName(o), typeName(n), typeNames(failing))
	}
}

// readerUnion explains a single type written that no branch of the
// union read takes.
func (e *explainer) readerUnion(reader *avro.UnionSchema, writer avro.Schema, path []step) {
	if rb := sameKind(reader, writer); rb != nil {
		e.match(rb, writer, path)
		return
	}
	o, n := e.oldNew(reader, writer)
	e.add("%s changed type from %s to %s", subject(path), typeName(o), typeName(n))
}

// typeChanged explains two different, non-union types.
func (e *explainer) typeChanged(reader, writer avro.Schema, path []step) {
	o, n := e.oldNew(reader, writer)
	msg := fmt.Sprintf("%s changed type from %s to %s", subject(path), typeName(o), typeName(n))
	switch {
	case e.readerIsNew && promotable(reader.Type(), writer.Type()):
		msg += " (a narrowing: only int->long->float->double and string<->bytes may change)"
	case !e.readerIsNew && promotable(reader.Type(), writer.Type()):
		msg += " (a widening: readers of the old schema cannot read the wider type)"
	}
	e.add("%s", msg)
}

// renamed reports, and explains, a named type whose name does not resolve:
// the reader's name must equal the writer's (namespaces aside) or list the
// writer's full name among its aliases.
func (e *explainer) renamed(kind string, reader, writer avro.NamedSchema, path []step) bool {
	if reader.Name() == writer.Name() || slices.Contains(reader.Aliases(), writer.FullName()) {
		return false
	}
	o, n := e.oldNew(reader, writer)
	on, nn := o.(avro.NamedSchema).FullName(), n.(avro.NamedSchema).FullName()
	if e.readerIsNew {
		e.add("%s %s renamed to %s%s (list %q in the new %s's aliases)", kind, on, nn, at(path), on, kind)
	} else {
		e.add("%s %s renamed to %s%s (readers of the old schema do not know the new name)", kind, on, nn, at(path))
	}
	return true
}

// writerField finds the writer's field for a reader's field: by name, or
// by one of the reader field's aliases.
func writerField(w *avro.RecordSchema, rf *avro.Field) *avro.Field {
	for _, wf := range w.Fields() {
		if wf.Name() == rf.Name() || slices.Contains(rf.Aliases(), wf.Name()) {
			return wf
		}
	}
	return nil
}

// sameKind returns the branch of u of the same type as s (for named
// types, preferably of the same name), or nil.
func sameKind(u *avro.UnionSchema, s avro.Schema) avro.Schema {
	s = deref(s)
	var found avro.Schema
	for _, b := range u.Types() {
		b = deref(b)
		if b.Type() != s.Type() {
			continue
		}
		bn, ok1 := b.(avro.NamedSchema)
		sn, ok2 := s.(avro.NamedSchema)
		if ok1 && ok2 && bn.Name() == sn.Name() {
			return b
		}
		if found == nil {
			found = b
		}
	}
	return found
}

// promotable reports whether data written as w may be read as r.
func promotable(w, r avro.Type) bool {
	switch w {
	case avro.Int:
		return r == avro.Long || r == avro.Float || r == avro.Double
	case avro.Long:
		return r == avro.Float || r == avro.Double
	case avro.Float:
		return r == avro.Double
	case avro.String:
		return r == avro.Bytes
	case avro.Bytes:
		return r == avro.String
	}
	return false
}

func appendStep(path []step, s step) []step {
	return append(path[:len(path):len(path)], s)
}

// subject names the place a path leads to: "field amount", "field
// address.street", "the values of field metadata", "the items of field
// tags[].labels", or "the top-level schema".
func subject(path []step) string {
	var prefix string
	for len(path) > 0 && path[len(path)-1].kind != stepField {
		if path[len(path)-1].kind == stepItems {
			prefix += "the items of "
		} else {
			prefix += "the values of "
		}
		path = path[:len(path)-1]
	}
	if len(path) == 0 {
		return prefix + "the top-level schema"
	}
	return prefix + "field " + dotted(path)
}

// dotted renders a path as "address.street", "tags[].name", "meta{}.x".
func dotted(path []step) string {
	var b strings.Builder
	for i, s := range path {
		switch s.kind {
		case stepField:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.field)
		case stepItems:
			b.WriteString("[]")
		case stepValues:
			b.WriteString("{}")
		}
	}
	return b.String()
}

// from, to and at attach a place to a message about a part of it: ""
// at the top level.
func from(path []step) string { return place(" from ", path) }
func to(path []step) string   { return place(" to ", path) }
func at(path []step) string   { return place(" in ", path) }

func place(prep string, path []step) string {
	if len(path) == 0 {
		return ""
	}
	return prep + subject(path)
}

// typeName names a type in a message: "int", "record com.x.Address",
// "array of string", "map of union [string, int]".
func typeName(s avro.Schema) string {
	s = deref(s)
	switch t := s.(type) {
	case *avro.RecordSchema:
		return "record " + t.FullName()
	case *avro.EnumSchema:
		return "enum " + t.FullName()
	case *avro.FixedSchema:
		return "fixed " + t.FullName()
	case *avro.ArraySchema:
		return "array of " + typeName(t.Items())
	case *avro.MapSchema:
		return "map of " + typeName(t.Values())
	case *avro.UnionSchema:
		return "union [" + branchNames(t.Types()) + "]"
	}
	return string(s.Type())
}

// branchNames lists union branches briefly: named types by full name.
func branchNames(types []avro.Schema) string {
	names := make([]string, len(types))
	for i, b := range types {
		b = deref(b)
		if n, ok := b.(avro.NamedSchema); ok {
			names[i] = n.FullName()
		} else {
			names[i] = typeName(b)
		}
	}
	return strings.Join(names, ", ")
}

// typeNames lists types for a reason: "int", "int or boolean".
func typeNames(types []avro.Schema) string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = typeName(t)
	}
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
