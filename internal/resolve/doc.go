// Package resolve turns a MilestoneTrigger resource into the definition the
// evaluator and the notifiers use, reading the Secrets it references and
// checking their values. The controller resolves triggers to accept them
// into the trigger set; the REST shim's simulate resolves one to render
// exactly what it would send.
package resolve
