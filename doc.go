// Package tailor defines the domain types of the Tailor personalization
// engine: items (products), users (shoppers) and events (what shoppers did
// with items), and the validation rules that every way into the store
// (the HTTP API and the bulk importers) applies to them.
//
// The package depends on the standard library only; every other package of
// the module imports it.
package tailor
