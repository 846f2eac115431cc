package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// newObject maps "apiVersion kind" to the API type a document of that kind
// decodes into. A kind that is not here fails the test: every manifest must
// be checked against its real type.
var newObject = map[string]func() any{
	"apps/v1 Deployment":           func() any { return new(appsv1.Deployment) },
	"apps/v1 StatefulSet":          func() any { return new(appsv1.StatefulSet) },
	"v1 Service":                   func() any { return new(corev1.Service) },
	"networking.k8s.io/v1 Ingress": func() any { return new(networkingv1.Ingress) },
}

// document is one decoded YAML document of a manifest file.
type document struct {
	where string // "file.yaml#2", for messages
	obj   any    // one of the types in newObject
}

// separator is a YAML document separator on a line of its own, perhaps
// followed by a comment.
var separator = regexp.MustCompile(`(?m)^---[ \t]*(?:#.*)?$`)

// splitDocuments splits a multi-document YAML file, dropping documents that
// hold nothing but comments and blank lines.
func splitDocuments(data []byte) ([][]byte, error) {
	var docs [][]byte
	for _, part := range separator.Split(string(data), -1) {
		var v any
		if err := yaml.Unmarshal([]byte(part), &v); err != nil {
			return nil, err
		}
		if v != nil {
			docs = append(docs, []byte(part))
		}
	}
	return docs, nil
}

// decodeDocument decodes one YAML document into the API type its apiVersion
// and kind name, strictly: an unknown field, a duplicate key or a value of
// the wrong type is an error.
//
// The strict decoder still matches field names case-insensitively, as
// encoding/json does, so "Replicas:" would pass it. decodeDocument therefore
// also encodes the typed object again and requires that everything the
// document says comes back unchanged: a misspelt key, or a value the type
// normalises ("0.5" CPU read back as "500m"), fails here too.
func decodeDocument(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	mk, ok := newObject[tm.APIVersion+" "+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("unexpected apiVersion %q kind %q", tm.APIVersion, tm.Kind)
	}
	obj := mk()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, err
	}
	in, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var want, got any
	if err := json.Unmarshal(in, &want); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(out, &got); err != nil {
		return nil, err
	}
	if err := covers(got, want, ""); err != nil {
		return nil, fmt.Errorf("%s does not survive decoding into %T: %w", tm.Kind, obj, err)
	}
	return obj, nil
}

// covers reports where got, the re-encoded object, lacks or changes
// something of want, the document as written. Fields only got has are the
// type's zero values and defaults, which is fine.
func covers(got, want any, path string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want an object", path, got)
		}
		for _, k := range sortedKeys(w) {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: field dropped (misspelt or wrong case?)", path, k)
			}
			if err := covers(gv, w[k], path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: got %v, want %v", path, got, want)
		}
		for i := range w {
			if err := covers(g[i], w[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("%s: decoded as %v, written as %v", path, got, want)
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// loadManifests decodes every document of every manifests/*.yaml file.
func loadManifests(t *testing.T) []document {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("manifests", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no manifests found in manifests/")
	}
	var all []document
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := splitDocuments(data)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if len(docs) == 0 {
			t.Errorf("%s: no documents", file)
		}
		for i, doc := range docs {
			where := fmt.Sprintf("%s#%d", filepath.Base(file), i+1)
			obj, err := decodeDocument(doc)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			all = append(all, document{where: where, obj: obj})
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return all
}

// objects returns the documents of type T.
func objects[T any](docs []document) []T {
	var out []T
	for _, d := range docs {
		if o, ok := d.obj.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	docs := loadManifests(t)
	count := map[string]int{}
	for _, d := range docs {
		count[reflect.TypeOf(d.obj).Elem().Name()]++
	}
	// The set the README describes: app and Redis Deployments, the
	// StatefulSet variant, the affinity variant (a Deployment, its headless
	// discovery Service and its plain Service), their Services, the Ingress.
	want := map[string]int{"Deployment": 3, "StatefulSet": 1, "Service": 6, "Ingress": 1}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("objects by kind = %v, want %v", count, want)
	}
}

// TestDecodeDocumentRejects proves the strict decoding fails on the mistakes
// it exists to catch: each document here is a valid one with one flaw.
func TestDecodeDocumentRejects(t *testing.T) {
	const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      containers:
        - name: x
          image: x
          resources:
            requests:
              cpu: %s
%s`
	good := fmt.Sprintf(deployment, "100m", "")
	if _, err := decodeDocument([]byte(good)); err != nil {
		t.Fatalf("the valid document does not decode: %v", err)
	}
	for name, doc := range map[string]string{
		"unknown field":      fmt.Sprintf(deployment, "100m", "  replica: 3\n"),
		"wrong case":         fmt.Sprintf(deployment, "100m", "  Replicas: 3\n"),
		"duplicate key":      fmt.Sprintf(deployment, "100m", "  replicas: 3\n  replicas: 4\n"),
		"wrong type":         fmt.Sprintf(deployment, "100m", "  replicas: three\n"),
		"bad quantity":       fmt.Sprintf(deployment, "lots", ""),
		"normalised value":   fmt.Sprintf(deployment, `"0.5"`, ""),
		"unknown kind":       "apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: x}\n",
		"wrong group":        "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: x}\n",
		"not a mapping":      "- just\n- a list\n",
		"misplaced sub-item": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  sessionAffinityConfig:\n    timeoutSeconds: 10\n",
	} {
		if _, err := decodeDocument([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error:\n%s", name, doc)
		}
	}
}

func TestSplitDocuments(t *testing.T) {
	docs, err := splitDocuments([]byte("# only a comment\n---\na: 1\n---   \n\n--- # a comment\nb: 2\n  ---\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || !bytes.Contains(docs[0], []byte("a: 1")) || !bytes.Contains(docs[1], []byte("b: 2\n  ---")) {
		t.Fatalf("splitDocuments = %q", docs)
	}
}
