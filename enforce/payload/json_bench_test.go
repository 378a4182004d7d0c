package payload

import (
	"testing"
)

// jsonBenchSchema describes jsonBenchEvent: a checkout event as a
// draft-07 schema, with a reference, definitions, formats, patterns,
// enums and bounds, the way producers' generated schemas look.
const jsonBenchSchema = `{
	"$schema": "http://json-schema.org/draft-07/schema#",
	"title": "CheckoutCompleted",
	"type": "object",
	"additionalProperties": false,
	"required": ["event_id", "occurred_at", "customer", "items", "total", "currency", "status"],
	"properties": {
		"event_id": {"type": "string", "format": "uuid"},
		"occurred_at": {"type": "string", "format": "date-time"},
		"source": {"type": "string", "enum": ["web", "ios", "android", "pos"]},
		"customer": {
			"type": "object",
			"required": ["id", "email"],
			"properties": {
				"id": {"type": "integer", "minimum": 1},
				"email": {"type": "string", "format": "email"},
				"name": {"type": "string", "maxLength": 200},
				"address": {"$ref": "address.json"}
			}
		},
		"items": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/item"}},
		"discount_codes": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z0-9]{4,12}$"}, "uniqueItems": true},
		"total": {"$ref": "#/definitions/money"},
		"currency": {"type": "string", "enum": ["EUR", "USD", "GBP", "JPY"]},
		"status": {"type": "string", "enum": ["PENDING", "PAID", "SHIPPED"]},
		"note": {"oneOf": [{"type": "null"}, {"type": "string", "maxLength": 500}]},
		"metadata": {"type": "object", "additionalProperties": {"type": "string"}}
	},
	"definitions": {
		"money": {"type": "number", "minimum": 0, "multipleOf": 0.01},
		"item": {
			"type": "object",
			"additionalProperties": false,
			"required": ["sku", "quantity", "unit_price"],
			"properties": {
				"sku": {"type": "string", "pattern": "^SKU-[0-9]{6}$"},
				"name": {"type": "string"},
				"quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
				"unit_price": {"$ref": "#/definitions/money"},
				"tags": {"type": "array", "items": {"type": "string"}}
			}
		}
	}
}`

var jsonBenchRefs = map[string]string{
	"address.json": `{
		"type": "object",
		"required": ["street", "city", "country"],
		"properties": {
			"street": {"type": "string"},
			"city": {"type": "string"},
			"zip": {"type": "string"},
			"country": {"type": "string", "pattern": "^[A-Z]{2}$"}
		}
	}`,
}

// jsonBenchEvent is a realistic 1 KiB event valid against jsonBenchSchema.
const jsonBenchEvent = `{"event_id":"5f0c6b9e-8d1a-4c3e-9a7b-2e4f6d8c0a1b","occurred_at":"2025-10-09T14:23:51.337Z",` +
	`"source":"web","customer":{"id":48213377,"email":"eva.lindqvist@example.com","name":"Eva Lindqvist",` +
	`"address":{"street":"Königstraße 12","city":"Stuttgart","zip":"70173","country":"DE"}},` +
	`"items":[{"sku":"SKU-104233","name":"Trail running shoes","quantity":1,"unit_price":129.95,"tags":["sport","shoes"]},` +
	`{"sku":"SKU-550871","name":"Merino socks, 3 pack","quantity":2,"unit_price":24.5,"tags":["sport","apparel"]},` +
	`{"sku":"SKU-730019","name":"Water bottle 750 ml","quantity":1,"unit_price":18.99,"tags":[]},` +
	`{"sku":"SKU-901442","name":"Energy gel \"salted caramel\"","quantity":6,"unit_price":2.49,"tags":["nutrition"]}],` +
	`"discount_codes":["AUTUMN25","FREESHIP"],"total":212.88,"currency":"EUR","status":"PAID",` +
	`"note":"Leave the parcel with the neighbour at no. 14 if nobody answers the door.",` +
	`"metadata":{"campaign":"autumn-sale","ab_bucket":"B","session":"c3f9a1e07d2b4c51","referrer":"newsletter"}}`

func BenchmarkJSONValidate(b *testing.B) {
	v, err := NewJSON(jsonBenchSchema, jsonBenchRefs)
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(jsonBenchEvent)
	if err := v.Validate(data, nil, Options{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(data, nil, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONParse is the parsing part of BenchmarkJSONValidate.
func BenchmarkJSONParse(b *testing.B) {
	data := []byte(jsonBenchEvent)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsonParse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONCompile is the cost of a registry cache miss.
func BenchmarkJSONCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewJSON(jsonBenchSchema, jsonBenchRefs); err != nil {
			b.Fatal(err)
		}
	}
}
