package controllers

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// readSamples decodes every object of every YAML file in config/samples.
func readSamples() []*unstructured.Unstructured {
	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(files).NotTo(BeEmpty())
	var objects []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		decoder := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			err := decoder.Decode(&u.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			Expect(err).NotTo(HaveOccurred(), f)
			if len(u.Object) > 0 {
				objects = append(objects, u)
			}
		}
	}
	return objects
}

var _ = Describe("config/samples", func() {
	It("are all accepted by the API server and all become Ready", func() {
		ns := newNamespace()
		var triggerKeys []client.ObjectKey
		for _, u := range readSamples() {
			u.SetNamespace(ns)
			Expect(k8sClient.Create(suiteCtx, u, client.FieldValidation("Strict"))).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
			if u.GetKind() == "MilestoneTrigger" {
				triggerKeys = append(triggerKeys, client.ObjectKeyFromObject(u))
			}
		}
		Expect(triggerKeys).To(HaveLen(3))
		for _, key := range triggerKeys {
			expectReady(key, metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)
		}
	})
})
