// kpromo-edges prints, as JSON, what kpromo's own parser makes of a thin-manifest directory:
// for the whole directory (schema.ParseThinManifestsFromDir + promotion.ToEdges, as
// `kpromo cip --thin-manifest-dir` does) and for each project on its own
// (schema.ParseThinManifestFromFile + promotion.ToEdges), with every edge. Hoist's differential
// test (test/integration/kpromo-parity.test.ts) compares Hoist's edges and decisions to these.
//
//	kpromo-edges DIR
//
// Built by scripts/testbed/install.sh against the pinned sigs.k8s.io/promo-tools/v4 in go.mod.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/sirupsen/logrus"

	"sigs.k8s.io/promo-tools/v4/promoter/image/promotion"
	"sigs.k8s.io/promo-tools/v4/promoter/image/schema"
)

type edge struct {
	Src    string `json:"src"`
	Digest string `json:"digest"`
	Dst    string `json:"dst"`
	Tag    string `json:"tag"`
}

type outcome struct {
	Name     string `json:"name,omitempty"`
	Accepted bool   `json:"accepted"`
	Error    string `json:"error,omitempty"`
	Edges    []edge `json:"edges"`
}

type report struct {
	Run      outcome   `json:"run"`
	Projects []outcome `json:"projects"`
}

func edgesOf(mfests []schema.Manifest) ([]edge, error) {
	edges, err := promotion.ToEdges(mfests)
	if err != nil {
		return nil, err
	}
	out := make([]edge, 0, len(edges))
	for e := range edges {
		out = append(out, edge{
			Src:    string(e.SrcRegistry.Name) + "/" + string(e.SrcImageTag.Name),
			Digest: string(e.Digest),
			Dst:    string(e.DstRegistry.Name) + "/" + string(e.DstImageTag.Name),
			Tag:    string(e.DstImageTag.Tag),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Dst != b.Dst {
			return a.Dst < b.Dst
		}
		if a.Digest != b.Digest {
			return a.Digest < b.Digest
		}
		if a.Tag != b.Tag {
			return a.Tag < b.Tag
		}
		return a.Src < b.Src
	})
	return out, nil
}

func decide(mfests []schema.Manifest, err error) outcome {
	if err != nil {
		return outcome{Error: err.Error(), Edges: []edge{}}
	}
	edges, err := edgesOf(mfests)
	if err != nil {
		return outcome{Error: err.Error(), Edges: []edge{}}
	}
	return outcome{Accepted: true, Edges: edges}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kpromo-edges DIR")
		os.Exit(2)
	}
	dir := filepath.Clean(os.Args[1])
	logrus.SetOutput(io.Discard)

	var r report
	r.Run = decide(schema.ParseThinManifestsFromDir(dir, false, ""))

	// Each project as kpromo's directory check walks them: directories under manifests/ that
	// hold a promoter-manifest.yaml (others are skipped with a warning, as kpromo does).
	entries, err := os.ReadDir(filepath.Join(dir, "manifests"))
	if err == nil {
		for _, entry := range entries {
			projectDir := filepath.Join(dir, "manifests", entry.Name())
			info, err := os.Stat(projectDir)
			if err != nil || !info.IsDir() {
				continue
			}
			manifest := filepath.Join(projectDir, "promoter-manifest.yaml")
			if _, err := os.Stat(manifest); err != nil {
				continue
			}
			var o outcome
			if _, err := os.Stat(filepath.Join(dir, "images", entry.Name(), "images.yaml")); err != nil {
				o = outcome{Error: fmt.Sprintf("corresponding images file does not exist: %v", err), Edges: []edge{}}
			} else {
				m, err := schema.ParseThinManifestFromFile(manifest, nil)
				o = decide([]schema.Manifest{m}, err)
			}
			o.Name = entry.Name()
			r.Projects = append(r.Projects, o)
		}
	}
	if r.Projects == nil {
		r.Projects = []outcome{}
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
