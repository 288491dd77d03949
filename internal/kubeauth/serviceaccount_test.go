package kubeauth

import "testing"

func TestServiceAccount(t *testing.T) {
	for _, tt := range []struct {
		in       string
		ns, name string
		ok       bool
	}{
		{"system:serviceaccount:demo:publisher", "demo", "publisher", true},
		{"system:serviceaccount:demo:pub.lisher", "demo", "pub.lisher", true},
		{"system:serviceaccount:demo:a:b", "", "", false},
		{"system:serviceaccount:de*mo:p", "", "", false},
		{"system:serviceaccount:demo:", "", "", false},
		{"system:serviceaccount::p", "", "", false},
		{"system:serviceaccount:demo", "", "", false},
		{"alice", "", "", false},
	} {
		ns, name, ok := ServiceAccount(tt.in)
		if ns != tt.ns || name != tt.name || ok != tt.ok {
			t.Errorf("ServiceAccount(%q) = %q, %q, %v; want %q, %q, %v", tt.in, ns, name, ok, tt.ns, tt.name, tt.ok)
		}
	}
}
